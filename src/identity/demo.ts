import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Logger } from '../shared/logger.js';
import { DEMO_PASSWORD, createCustomerSource, hashDemoPassword, insertCustomers, type SeedCounts } from './seed.js';

export { DEMO_PASSWORD };

/** The well-known demo account: a complete profile with 10 orders, signing in with `DEMO_PASSWORD`. */
export const DEMO_EMAIL = 'demo@example.com';

const DEMO_SEED = 1;
const DEMO_CUSTOMERS = 25;

/**
 * On an empty `users` table, seeds `DEMO_CUSTOMERS` synthetic customers (seed `DEMO_SEED`) plus the
 * demo account, and returns the lines to print on how to try it against `graphqlUrl`. On any other
 * database it writes nothing and returns no lines, so it is safe on every start. Runs in one
 * transaction under an advisory lock, so instances starting together seed once.
 */
export async function seedDemoIfEmpty(db: Db, logger: Logger, graphqlUrl = 'http://127.0.0.1:4000/graphql'): Promise<string[]> {
  const counts = await db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext('hub.seed-demo'))`.execute(tx);
    const anyone = await tx.selectFrom('users').select('id').limit(1).executeTakeFirst();
    return anyone ? undefined : insertDemoCustomers(tx);
  });
  if (!counts) return [];
  logger.info({ ...counts, email: DEMO_EMAIL }, 'seeded demo data into the empty database');
  return tryItLines(counts, graphqlUrl);
}

async function insertDemoCustomers(tx: Db): Promise<SeedCounts> {
  const source = createCustomerSource(DEMO_SEED, DEMO_CUSTOMERS + 1);
  // First in line, so the account is about three years old and its orders span that time.
  const demo = source.next(0, { email: DEMO_EMAIL, givenName: 'Alex', familyName: 'Demo', country: 'US', orderCount: 10, complete: true });
  const customers = [demo, ...Array.from({ length: DEMO_CUSTOMERS }, (_, i) => source.next(i + 1))];
  return insertCustomers(tx, customers, await hashDemoPassword());
}

function tryItLines(counts: SeedCounts, graphqlUrl: string): string[] {
  const signIn = JSON.stringify({
    query: `mutation { signIn(input: { email: "${DEMO_EMAIL}", password: "${DEMO_PASSWORD}" }) { accessToken } }`,
  });
  const me = JSON.stringify({ query: '{ me { givenName email orders(first: 3) { edges { node { id totalMinor currency } } } } }' });
  return [
    `Demo data: ${counts.users} customers, ${counts.orders} orders, ${counts.paymentMethods} payment methods.`,
    `Sign in as ${DEMO_EMAIL} with password ${DEMO_PASSWORD} (every seeded customer shares it), then ask for your profile:`,
    `  TOKEN=$(curl -s ${graphqlUrl} -H 'content-type: application/json' -d '${signIn}' | sed -E 's/.*"accessToken":"([^"]+)".*/\\1/')`,
    `  curl -s ${graphqlUrl} -H 'content-type: application/json' -H "Authorization: Bearer $TOKEN" -d '${me}'`,
  ];
}
