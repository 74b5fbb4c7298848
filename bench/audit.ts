/**
 * The cost of auditing every read: the same profile reads against a hub that audits them and
 * one that does not (HUB_AUDIT_READS=false), one after the other on the same data, in one run.
 * The audit-off hub is the floor; the goal is to keep at least 85% of its rate.
 * Run: `npm run bench -- audit` (BENCH_DATABASE_URL, BENCH_SECONDS).
 */
import { graphqlServed, markdownTable, measureHttp, type Figures, type Row } from './lib/measure.js';
import { BENCH_SECONDS, machine, openBenchDatabase, startHubProcess } from './lib/setup.js';
import { ME_QUERY, USERS_QUERY, ensureSeeded, expectData, operatorToken, signIn, userWithTenOrders } from './profile.js';

async function measureReads(auditReads: boolean, email: string): Promise<{ me: Figures; users: Figures }> {
  const database = await openBenchDatabase();
  const hub = await startHubProcess({ HUB_AUDIT_READS: String(auditReads) });
  try {
    const userToken = await signIn(hub, email);
    const adminToken = await operatorToken(database.db, hub);
    await expectData(hub, ME_QUERY, userToken);
    await expectData(hub, USERS_QUERY, adminToken);
    const http = (query: string, token: string) =>
      measureHttp({ url: `${hub.url}/graphql`, body: JSON.stringify({ query }), headers: { authorization: `Bearer ${token}` }, seconds: BENCH_SECONDS, verifyBody: graphqlServed });
    return { me: await http(ME_QUERY, userToken), users: await http(USERS_QUERY, adminToken) };
  } finally {
    await hub.stop();
    await database.close();
  }
}

export async function benchAudit(): Promise<Row[]> {
  const database = await openBenchDatabase();
  let email: string;
  try {
    await ensureSeeded(database.db);
    email = (await userWithTenOrders(database.db)).email;
  } finally {
    await database.close();
  }
  const off = await measureReads(false, email);
  const on = await measureReads(true, email);
  return [
    { workload: 'me, audited (floor: not audited)', hub: on.me, floor: off.me, goal: 0.85 },
    { workload: 'users(first: 50), 50 events a request (floor: not audited)', hub: on.users, floor: off.users, goal: 0.85 },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchAudit();
  console.log(`\nThe cost of auditing reads, on ${machine()}\n\n${markdownTable(rows)}`);
}
