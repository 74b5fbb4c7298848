/**
 * The cost of the full per-field decision: a delegated agent's profile read (token check with
 * consent and agent chain, per-field decision on scopes, live consent and purpose) beside the same
 * read by the user themself (no consent checks), in one run. Goal: the ratio ≥ 0.85.
 * Run: `npm run bench -- authz` (BENCH_DATABASE_URL, BENCH_SECONDS).
 */
import { hashClientSecret } from '../src/agents/agent-credentials.js';
import { graphqlServed, markdownTable, measureHttp, warmUpHttp, type HttpLoad, type Row } from './lib/measure.js';
import { BENCH_SECONDS, ensureBenchClient, machine, openBenchDatabase, startHubProcess } from './lib/setup.js';
import { ensureSeeded, expectData, operatorToken, signIn, userWithTenOrders } from './profile.js';

/** What both read: the fields the support consent covers. */
export const AGENT_QUERY = `{ me { id email emailVerified phone orders(first: 10) { edges { node { id placedAt totalMinor currency status } } } } }`;

const AGENT_ID = 'agt_01J0000000000000000000AUTH';

export async function benchAuthz(): Promise<Row[]> {
  const database = await openBenchDatabase();
  const hub = await startHubProcess();
  try {
    await ensureSeeded(database.db);
    const user = await userWithTenOrders(database.db);
    const userToken = await signIn(hub, user.email);
    await operatorToken(database.db, hub);
    await ensureBenchClient(database.db, AGENT_ID, ['orders:read', 'contact:read']);
    await database.db.insertInto('agent_secrets').values({ agent_id: AGENT_ID, secret_hash: hashClientSecret('bench-agent-secret') }).onConflict((oc) => oc.doNothing()).execute();
    const consent = await fetch(`${hub.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${userToken}` },
      body: JSON.stringify({ query: `mutation { giveConsent(input: { purpose: "support", agentId: "${AGENT_ID}", scopes: ["orders:read", "contact:read"] }) { id } }` }),
    });
    if (!consent.ok) throw new Error(`giveConsent failed: ${await consent.text()}`);
    const exchanged = await fetch(`${hub.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${AGENT_ID}:bench-agent-secret`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: await signIn(hub, user.email), subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }),
    });
    const agentToken = ((await exchanged.json()) as { access_token?: string }).access_token;
    if (!agentToken) throw new Error('token exchange failed');
    await expectData(hub, AGENT_QUERY, userToken);
    await expectData(hub, AGENT_QUERY, agentToken);

    const seconds = BENCH_SECONDS;
    const load = (token: string): HttpLoad => ({ url: `${hub.url}/graphql`, body: JSON.stringify({ query: AGENT_QUERY }), headers: { authorization: `Bearer ${token}` }, seconds, verifyBody: graphqlServed });
    // One hub serves both reads in turn: both warm before either is timed, or the second would be
    // timed warm beside the first cold (in 3 s runs, 1.50× with the user's read first, 0.67× with
    // the agent's first).
    await warmUpHttp(load(userToken));
    await warmUpHttp(load(agentToken));
    const own = await measureHttp(load(userToken));
    const delegated = await measureHttp(load(agentToken));
    return [{ workload: 'me: contact + 10 orders, delegated agent (floor: the user themself)', hub: delegated, floor: own, goal: 0.85 }];
  } finally {
    await hub.stop();
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchAuthz();
  console.log(`\nThe full per-field decision on ${machine()}\n\n${markdownTable(rows)}`);
}
