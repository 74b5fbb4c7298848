import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

// The outage is made by cutting a TCP proxy in front of the server, so the other test files,
// which share the server, are not disturbed. PGlite runs inside the hub and cannot go away.
describe.skipIf(!testServerUrl())('the database goes away under load', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let hub: Hub;
  beforeAll(async () => {
    database = await createTestDatabase();
    let viaProxy: string;
    ({ proxy, url: viaProxy } = await proxyDatabase(database.url!));
    hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: viaProxy }), { database: openDatabase({ url: viaProxy }) });
  });
  afterAll(async () => {
    await hub.close();
    await proxy.close();
    await database.close();
  });

  it('answers 503 with Retry-After while it is down, recovers by itself, and loses no audit event', async () => {
    const user = await signUpUser(hub, { givenName: 'Before' });
    const rename = await graphql(hub, 'mutation { updateProfile(input: { givenName: "Committed" }) { givenName } }', { token: user.accessToken });
    expect(rename.errors).toBeUndefined();

    const statuses = new Map<number, number>();
    let served = 0;
    let stop = false;
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const response = await graphql(hub, '{ me { givenName } }', { token: user.accessToken });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status === 200) {
          served++;
          expect(response.data).toEqual({ me: { givenName: 'Committed' } });
        } else {
          expect(response.status).toBe(503);
          expect(response.headers['retry-after']).toBe('5');
          expect(JSON.stringify(response)).not.toMatch(/ECONN|Connection terminated|stack/);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    proxy.restore();
    await expect.poll(async () => (await graphql(hub, '{ me { givenName } }', { token: user.accessToken })).status, { timeout: 15_000 }).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop = true;
    await Promise.all(load);

    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].sort()).toEqual([200, 503]);
    // Every read that was answered is in the trail, including those buffered when the database went away.
    await hub.services.audit.flush();
    const reads = await database.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('subject_user_id', '=', user.id)
      .where('action', '=', 'profile.read')
      .executeTakeFirstOrThrow();
    expect(Number(reads.count)).toBeGreaterThanOrEqual(served);
  }, 60_000);
});
