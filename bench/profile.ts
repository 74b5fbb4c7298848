/**
 * Profile reads through the hub against their raw-SQL floor, in one run:
 * - `me`: one user's full profile with 10 orders (user token);
 * - `users(first: 50)` with 10 orders each (operator token).
 * The floor is the same data in one round trip of the best SQL through `pg`, at the same
 * concurrency. Run: `npm run bench -- profile` (BENCH_DATABASE_URL, BENCH_SECONDS).
 */
import { sql } from 'kysely';
import { ALL_DATA_SCOPES } from '../src/authz/scopes.js';
import { DEMO_PASSWORD, seedUsers } from '../src/identity/seed.js';
import type { Db } from '../src/db/connect.js';
import { graphqlServed, markdownTable, measureCalls, measureHttp, type Row } from './lib/measure.js';
import { BENCH_SECONDS, benchClientToken, machine, openBenchDatabase, startHubProcess, type HubProcess } from './lib/setup.js';

const USERS = 2_000;

export const ME_QUERY = `{ me {
  id email emailVerified phone givenName familyName birthdate locale country createdAt updatedAt lastLoginAt
  address { line1 line2 city region postalCode country }
  preferences { channels interests sizes { kind value } tags }
  loyalty { tier points }
  paymentMethods { brand last4 expMonth expYear }
  orders(first: 10) { edges { node { id placedAt totalMinor currency status lineItems { sku name quantity unitPriceMinor } } } }
} }`;

export const USERS_QUERY = `{ users(first: 50) { edges { node {
  id email givenName familyName country locale loyalty { tier points }
  orders(first: 10) { edges { node { id placedAt totalMinor currency status } } }
} } } }`;

/** The best single statement for `me`: the user, their payment methods and newest 10 orders as JSON. */
const meFloor = (db: Db, userId: string) => sql`
  select u.*,
    (select coalesce(json_agg(p order by p.created_at), '[]') from payment_methods p where p.user_id = u.id) as payment_methods,
    (select coalesce(json_agg(o), '[]') from (
      select id, placed_at, total_minor, currency, status, line_items from orders
      where user_id = u.id order by placed_at desc, id desc limit 10) o) as orders
  from users u where u.id = ${userId}`.execute(db);

/** The best single statement for the 50-user page: a lateral join walks each user's order index once. */
const usersFloor = (db: Db) => sql`
  select u.id, u.email, u.given_name, u.family_name, u.country, u.locale, u.loyalty_tier, u.loyalty_points,
    coalesce(o.orders, '[]') as orders
  from (select * from users where status <> 'erased' order by created_at, id limit 50) u
  left join lateral (
    select json_agg(x) as orders from (
      select id, placed_at, total_minor, currency, status from orders
      where user_id = u.id order by placed_at desc, id desc limit 10) x
  ) o on true
  order by u.created_at, u.id`.execute(db);

export async function ensureSeeded(db: Db): Promise<void> {
  const { count } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
  if (Number(count) < USERS) await seedUsers(db, { users: USERS, seed: 7_000 + Number(count) });
}

export async function userWithTenOrders(db: Db): Promise<{ id: string; email: string }> {
  return db
    .selectFrom('users')
    .select(['id', 'email'])
    .where('id', 'in', (eb) => eb.selectFrom('orders').select('user_id').groupBy('user_id').having((h) => h.fn.countAll(), '>=', 10))
    .where('status', '=', 'active')
    .limit(1)
    .executeTakeFirstOrThrow() as Promise<{ id: string; email: string }>;
}

export async function signIn(hub: HubProcess, email: string): Promise<string> {
  const response = await fetch(`${hub.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($i: SignInInput!) { signIn(input: $i) { accessToken } }', variables: { i: { email, password: DEMO_PASSWORD } } }),
  });
  const body = (await response.json()) as { data?: { signIn: { accessToken: string } } };
  if (!body.data) throw new Error(`sign-in failed: ${JSON.stringify(body)}`);
  return body.data.signIn.accessToken;
}

/** An operator token signed with the hub's own key, read from the shared database. */
export async function operatorToken(db: Db, hub: HubProcess): Promise<string> {
  return benchClientToken(db, hub, 'agt_01J0000000000000000000BNCH', ['users:admin', ...ALL_DATA_SCOPES]);
}

/** Checks one answer before measuring, so a broken query is not timed as fast. */
export async function expectData(hub: HubProcess, query: string, token: string): Promise<void> {
  const response = await fetch(`${hub.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
  const body = (await response.json()) as { errors?: unknown };
  if (!response.ok || body.errors) throw new Error(`query failed: ${JSON.stringify(body).slice(0, 500)}`);
}

export async function benchProfile(): Promise<Row[]> {
  const database = await openBenchDatabase();
  const hub = await startHubProcess();
  try {
    await ensureSeeded(database.db);
    const user = await userWithTenOrders(database.db);
    const userToken = await signIn(hub, user.email);
    const adminToken = await operatorToken(database.db, hub);
    await expectData(hub, ME_QUERY, userToken);
    await expectData(hub, USERS_QUERY, adminToken);

    const seconds = BENCH_SECONDS;
    const http = (query: string, token: string) =>
      measureHttp({ url: `${hub.url}/graphql`, body: JSON.stringify({ query }), headers: { authorization: `Bearer ${token}` }, seconds, verifyBody: graphqlServed });
    return [
      { workload: 'me: full profile, 10 orders', hub: await http(ME_QUERY, userToken), floor: await measureCalls(() => meFloor(database.db, user.id), { seconds }), goal: 0.3 },
      { workload: 'users(first: 50), 10 orders each', hub: await http(USERS_QUERY, adminToken), floor: await measureCalls(() => usersFloor(database.db), { seconds }), goal: 0.8 },
    ];
  } finally {
    await hub.stop();
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchProfile();
  console.log(`\nProfile reads on ${machine()}\n\n${markdownTable(rows)}`);
}
