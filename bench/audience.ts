/**
 * Audiences on a million seeded customers, through the hub against their raw-SQL floor:
 * - `totalCount` and the first page of 1,000 members for three typical filters (one request at a
 *   time: a marketer's tool waits for each answer), p50 and p99;
 * - the export of a saved audience over HTTP, in rows per second.
 * The floor is the best single statement for the same answer on the same data through `pg`; one
 * more row shows the naive layout (a join of consents and users) for the first count.
 * Database: BENCH_AUDIENCE_DATABASE_URL (default: the local `seedbench`, made by
 * `hub migrate up` then `hub seed --users 1000000 --seed 42`). Run: `npx tsx bench/audience.ts`.
 */
import { sql } from 'kysely';
import { ALL_DATA_SCOPES } from '../src/authz/scopes.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Db } from '../src/db/connect.js';
import { KeyStore } from '../src/oauth/key-store.js';
import { createTokenService } from '../src/oauth/token.service.js';
import { systemClock } from '../src/shared/clock.js';
import { markdownTable, measureCalls, type Figures, type Row } from './lib/measure.js';
import { BENCH_KEY_ENCRYPTION_KEY, BENCH_SECONDS, ensureBenchClient, machine, startHubProcess, type HubProcess } from './lib/setup.js';

export const BENCH_AUDIENCE_DATABASE_URL = process.env.BENCH_AUDIENCE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/seedbench';

interface Typical {
  readonly name: string;
  readonly purpose: string;
  readonly filter: Record<string, unknown>;
  /** The same selection as raw SQL over `audience_members m`, for the floor. */
  readonly where: ReturnType<typeof sql>;
  /** Member fields the purpose covers: the rest would be refused, and the floor selects the same. */
  readonly fields: string;
}

const TYPICAL: readonly Typical[] = [
  { name: 'email_marketing, country DE', purpose: 'email_marketing', filter: { countries: ['DE'] }, where: sql`m.country = 'DE'`, fields: 'id email country locale preferences { interests channels }' },
  {
    name: 'email_marketing, gold+ tier, running or yoga',
    purpose: 'email_marketing',
    filter: { loyaltyTiers: ['gold', 'platinum'], interestsAny: ['running', 'yoga'] },
    where: sql`m.loyalty_tier in ('gold', 'platinum') and m.interests && array['running', 'yoga']`,
    fields: 'id email country locale preferences { interests channels }',
  },
  {
    name: 'personalization, age 25-44, ordered since 2025-10-01',
    purpose: 'personalization',
    filter: { ageMin: 25, ageMax: 44, lastOrderAfter: '2025-10-01T00:00:00Z' },
    where: sql`m.birthdate <= (current_date - interval '25 years')::date and m.birthdate > (current_date - interval '45 years')::date
      and m.last_order_at >= '2025-10-01T00:00:00Z'`,
    fields: 'id preferences { interests channels }',
  },
];

const live = (purpose: string) => sql`m.purpose = ${purpose} and (m.expires_at is null or m.expires_at > now())`;

const floorCount = (db: Db, t: Typical) => sql`select count(*) from audience_members m where ${live(t.purpose)} and ${t.where}`.execute(db);

/** The page's rows: the member rows in user-id order, then their users by primary key. */
const floorPage = (db: Db, t: Typical) => sql`
  select u.id, u.email, u.country, u.locale, u.preferences from audience_members m join users u on u.id = m.user_id
  where ${live(t.purpose)} and ${t.where} and u.status = 'active' order by m.user_id limit 1001`.execute(db);

/** What the issue measured: opted-in users of one country counted by joining consents and users. */
const naiveCount = (db: Db) => sql`
  select count(*) from consents c join users u on u.id = c.user_id
  where c.purpose = 'email_marketing' and c.agent_id is null and c.status = 'active' and (c.expires_at is null or c.expires_at > now())
    and u.status = 'active' and u.country = 'DE'`.execute(db);

async function marketingToken(db: Db, hub: HubProcess): Promise<string> {
  const config = loadConfig({ HUB_ISSUER: hub.url, HUB_KEY_ENCRYPTION_KEY: BENCH_KEY_ENCRYPTION_KEY, HUB_ACCESS_TOKEN_TTL: '3600' });
  const keys = await KeyStore.open(db, config.keyEncryptionKey!, systemClock, config.accessTokenTtl);
  const tokens = createTokenService({ config, keys, clock: systemClock, db });
  const client = 'agt_01J0000000000000000000AUDB';
  const scope = ['audience:read', ...ALL_DATA_SCOPES.filter((s) => s.endsWith(':read'))];
  await ensureBenchClient(db, client, scope);
  return (await tokens.issueAccessToken({ sub: client, client_id: client, scope: scope.join(' ') })).accessToken;
}

async function graphqlCall(hub: HubProcess, token: string, query: string, variables: Record<string, unknown>): Promise<any> {
  const response = await fetch(`${hub.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown };
  if (!response.ok || body.errors) throw new Error(`query failed: ${JSON.stringify(body).slice(0, 500)}`);
  return body.data;
}

/** One export over HTTP, read to its end; resolves to rows per second (and the time as p50). */
async function exportRate(run: () => Promise<number>): Promise<Figures> {
  const t0 = performance.now();
  const rows = await run();
  const ms = performance.now() - t0;
  return { rate: (rows * 1_000) / ms, p50: ms, p99: ms, errors: 0 };
}

export async function benchAudience(): Promise<Row[]> {
  const database = openDatabase({ url: BENCH_AUDIENCE_DATABASE_URL, poolSize: 4 });
  const hub = await startHubProcess({ DATABASE_URL: BENCH_AUDIENCE_DATABASE_URL });
  const db = database.db;
  try {
    // Measured on a settled table, as autovacuum leaves it after a bulk load: index-only scans
    // need the visibility map that VACUUM sets.
    await sql`vacuum (analyze) audience_members`.execute(db);
    await sql`analyze users`.execute(db);
    const token = await marketingToken(db, hub);
    const seconds = BENCH_SECONDS;
    const once = { concurrency: 1, seconds };
    const rows: Row[] = [];
    for (const t of TYPICAL) {
      const variables = { purpose: t.purpose, filter: t.filter };
      const countQuery = 'query($purpose: String!, $filter: AudienceFilter) { audience(purpose: $purpose, filter: $filter, first: 0) { totalCount } }';
      const pageQuery = `query($purpose: String!, $filter: AudienceFilter) { audience(purpose: $purpose, filter: $filter, first: 1000) { edges { node { ${t.fields} } } pageInfo { hasNextPage endCursor } } }`;
      // Checked before timing, so a wrong answer is not measured as a fast one.
      const hubCount = (await graphqlCall(hub, token, countQuery, variables)).audience.totalCount;
      const sqlCount = Number(Object.values((await floorCount(db, t)).rows[0] as object)[0]);
      if (hubCount !== sqlCount) throw new Error(`${t.name}: the hub counts ${hubCount}, the floor ${sqlCount}`);
      rows.push({ workload: `count: ${t.name} (${hubCount.toLocaleString('en-US')})`, hub: await measureCalls(() => graphqlCall(hub, token, countQuery, variables), once), floor: await measureCalls(() => floorCount(db, t), once), goal: 0.8 });
      rows.push({ workload: `first 1,000: ${t.name}`, hub: await measureCalls(() => graphqlCall(hub, token, pageQuery, variables), once), floor: await measureCalls(() => floorPage(db, t), once), goal: 0.8 });
    }
    rows.push({ workload: 'naive layout: count consents ⋈ users, country DE', hub: await measureCalls(() => naiveCount(db), once) });

    const exported = TYPICAL[0]!;
    const created = await graphqlCall(hub, token, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
      input: { name: 'Bench export', purpose: exported.purpose, filter: exported.filter },
    });
    const id = created.createAudience.id as string;
    const viaHub = await exportRate(async () => {
      const response = await fetch(`${hub.url}/audiences/${id}/export`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok || !response.body) throw new Error(`export failed: ${response.status}`);
      let lines = 0;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) for (const byte of chunk) if (byte === 10) lines++;
      return lines;
    });
    const viaSql = await exportRate(async () => {
      const result = await sql`select u.id, u.email, u.locale, u.country, u.created_at, u.preferences from audience_members m join users u on u.id = m.user_id
        where ${live(exported.purpose)} and ${exported.where} and u.status = 'active' order by m.user_id`.execute(db);
      return result.rows.length;
    });
    rows.push({ workload: `export rows/s: ${exported.name} (time as p50 ms)`, hub: viaHub, floor: viaSql, goal: 0.8 });
    return rows;
  } finally {
    await hub.stop();
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchAudience();
  console.log(`\nAudiences on ${machine()}; ${BENCH_SECONDS} s per measurement, one request at a time\n\n${markdownTable(rows)}`);
}
