import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

/** Two transactions rebuild one user's audience rows at once: a server's concurrency, not PGlite's. */
describe.skipIf(!testServerUrl())('audience rows rebuilt by two transactions at once', () => {
  let database: TestDatabase;
  let hub: Hub;
  const clients: pg.Client[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    hub = await createHub(loadConfig(TEST_ENV), { database });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
    await hub.close();
  });

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    clients.push(client);
    return client;
  }

  it('holds no row for a consent withdrawn while a profile update of the same user was in flight', async () => {
    const user = await signUpUser(hub, { country: 'DE' });
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const rows = async () => (await hub.services.db.selectFrom('audience_members').select('consent_id').where('user_id', '=', user.id).execute()).map((r) => r.consent_id);
    expect(await rows()).toEqual([consentId]);

    const [update, withdraw] = [await connect(), await connect()];
    await update.query('begin');
    await update.query(`update users set country = 'AT' where id = $1`, [user.id]);
    await withdraw.query('begin');
    const withdrawing = withdraw.query(`update consents set status = 'withdrawn', withdrawn_at = now() where id = $1`, [consentId]);
    // The withdrawal's rebuild waits for the update's: commit the update only once it does.
    const pid = (withdraw as unknown as { processID: number }).processID;
    for (;;) {
      const { rows: [activity] } = await update.query(`select wait_event_type from pg_stat_activity where pid = $1`, [pid]);
      if (activity?.wait_event_type === 'Lock') break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await update.query('commit');
    await withdrawing;
    await withdraw.query('commit');
    expect(await rows()).toEqual([]);
  });

  /** Resolves once the backend of `client` waits for a lock, as seen from `observer`; fails if it does not within 3 s. */
  async function blocked(observer: pg.Client, client: pg.Client): Promise<void> {
    const pid = (client as unknown as { processID: number }).processID;
    for (let tries = 0; tries < 300; tries++) {
      const { rows: [activity] } = await observer.query(`select wait_event_type from pg_stat_activity where pid = $1`, [pid]);
      if (activity?.wait_event_type === 'Lock') return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the second transaction never waited for the first');
  }

  const orderFigures = async (userId: string) =>
    hub.services.db.selectFrom('audience_members').select(['order_count', 'order_spend_minor']).where('user_id', '=', userId).executeTakeFirstOrThrow();
  const consentSql = `insert into consents (id, user_id, purpose, agent_id, scopes, status, given_at, collection_method, policy_version)
    values ($1, $2, 'loyalty_offers', null, '{}', 'active', now(), 'race', '1')`;
  const orderSql = `insert into orders (id, user_id, placed_at, total_minor, currency, status) values ($1, $2, now(), 5000, 'EUR', 'paid')`;

  it('counts an order placed while the consent that makes the customer a member is being given', async () => {
    const user = await signUpUser(hub, { country: 'DE' });
    const [consenting, ordering] = [await connect(), await connect()];
    await consenting.query('begin');
    await consenting.query(consentSql, [`cns_01J0000000000000000RACE${user.id.slice(-4)}`, user.id]);
    // The order waits for the member row under way, and then rebuilds it.
    const placing = ordering.query(orderSql, [`ord_race_${user.id}`, user.id]);
    await blocked(consenting, ordering);
    await consenting.query('commit');
    await placing;
    expect(await orderFigures(user.id)).toMatchObject({ order_count: 1, order_spend_minor: 5000 });
  });

  it('counts an order placed first, whose transaction is still open, once both commit', async () => {
    const user = await signUpUser(hub, { country: 'DE' });
    const [ordering, consenting] = [await connect(), await connect()];
    await ordering.query('begin');
    await ordering.query(orderSql, [`ord_race_${user.id}`, user.id]);
    // The consent's rebuild waits for the order's transaction, and then sees the order.
    const giving = consenting.query(consentSql, [`cns_01J0000000000000000RACF${user.id.slice(-4)}`, user.id]);
    await blocked(ordering, consenting);
    await ordering.query('commit');
    await giving;
    expect(await orderFigures(user.id)).toMatchObject({ order_count: 1, order_spend_minor: 5000 });
  });
});
