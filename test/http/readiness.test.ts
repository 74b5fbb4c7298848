import { describe, expect, it, onTestFinished } from 'vitest';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV } from '../helpers/hub.js';
import { proxyDatabase, startTcpProxy } from '../helpers/tcp-proxy.js';

// Stopping a database needs a server process; on PGlite the database lives inside the hub.
describe.skipIf(!testServerUrl())('readiness against a PostgreSQL server', () => {
  it('turns 503 while the database is unreachable and 200 again by itself', async () => {
    const database = await createTestDatabase();
    const { proxy, url: viaProxy } = await proxyDatabase(database.url!);
    const hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: viaProxy }), { database: openDatabase({ url: viaProxy }) });
    onTestFinished(async () => {
      await hub.close();
      await proxy.close();
      await database.close();
    });

    const ready = () => hub.http.inject({ method: 'GET', url: '/readyz' });
    expect((await ready()).statusCode).toBe(200);

    proxy.cut();
    const down = await ready();
    expect(down.statusCode).toBe(503);
    expect(JSON.parse(down.body)).toEqual({ status: 'unavailable', reason: 'database unreachable' });
    expect((await hub.http.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);

    proxy.restore();
    await expect.poll(async () => (await ready()).statusCode, { timeout: 10_000 }).toBe(200);
  });

  it('gives up on an unreachable database after the configured time, with a clear message', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    proxy.cut();
    const url = `postgres://postgres@127.0.0.1:${proxy.port}/test`;
    const started = Date.now();
    await expect(createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: url, HUB_DB_CONNECT_TIMEOUT: '2' }), { database: openDatabase({ url }) })).rejects.toThrow(
      /^database unreachable after 2 s: /,
    );
    expect(Date.now() - started).toBeLessThan(8_000);
    await proxy.close();
  });
});
