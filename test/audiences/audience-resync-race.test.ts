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
});
