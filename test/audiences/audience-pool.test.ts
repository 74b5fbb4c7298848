import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';

/**
 * An audience's count or page scans every customer, and can take seconds on a large one: the
 * lock held on `audience_members` here makes each wait as long as the test likes, holding the
 * connection it runs on. What one marketing client asks for at once must leave the pool's other
 * connections to everyone else.
 */
describe.skipIf(testServerUrl() === undefined)('audience statements and the pool of connections', () => {
  let hub: Hub;
  let marketing: string;
  let other: string;
  let customer: string;
  // The lock and the look at who waits go through connections of their own, outside the hub's pool.
  let outside: DatabaseHandle;
  beforeAll(async () => {
    const database = await createTestDatabase();
    outside = openDatabase({ url: database.url! });
    hub = await createHub(loadConfig(TEST_ENV), { database });
    marketing = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000POOL');
    other = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J00000000000000000OTHER');
    customer = (await signUpUser(hub)).accessToken;
  });
  afterAll(async () => {
    await outside.close();
    await hub.close();
  });
  const { holding, waiters } = lockHolder(() => outside.db);

  /** One request holding 15 counts of the whole audience, as aliases allow. */
  const COUNTS = `{ ${Array.from({ length: 15 }, (_, i) => `a${i}: audience(purpose: "email_marketing", first: 0) { totalCount }`).join(' ')} }`;

  it('leaves connections to other callers while one client’s counts wait', async () => {
    const lock = await holding((tx) => sql`lock table audience_members in access exclusive mode`.execute(tx));
    const counts = graphql<any>(hub, COUNTS, { token: marketing });
    await waiters(2);
    // Every count the pool let through is waiting by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const me = await graphql<any>(hub, '{ me { id email } }', { token: customer });
    expect(me.errors).toBeUndefined();
    expect(me.data.me.email).toMatch(/@/);
    expect(Date.now() - started).toBeLessThan(2_000);
    await lock.release();
    const answered = await counts;
    expect(answered.errors).toBeUndefined();
    expect(Object.values(answered.data).every((a: any) => typeof a.totalCount === 'number')).toBe(true);
  }, 20_000);

  it('gives another client’s audience a turn while one client’s counts wait', async () => {
    const lock = await holding((tx) => sql`lock table audience_members in access exclusive mode`.execute(tx));
    const counts = graphql<any>(hub, COUNTS, { token: marketing });
    await waiters(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const page = graphql<any>(hub, '{ audience(purpose: "email_marketing", first: 1) { totalCount } }', { token: other });
    // The other client's count reaches the database beside the first client's, not behind all 15.
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(outside.db);
    await waiters(rows[0]!.n + 1);
    await lock.release();
    expect((await page).errors).toBeUndefined();
    expect((await counts).errors).toBeUndefined();
  }, 20_000);
});
