import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
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

  it('leaves no probe that gave up queued for a connection of a busy pool', async () => {
    const database = await createTestDatabase();
    const hub = await createHub(loadConfig(TEST_ENV), { database });
    // Every connection of the requests' pool held, as slow queries hold them, until the lock they
    // wait on is let go: held for as long as the test needs, however slow the machine. The lock
    // goes with its session, before the hub closes, whether the test passed or not.
    const blocker = new pg.Client({ connectionString: database.url! });
    await blocker.connect();
    onTestFinished(async () => {
      await blocker.end();
      await hub.close();
    });
    const pool = hub.database.pools.get('requests')!;
    await blocker.query('select pg_advisory_lock(20261206)');
    const held = Array.from({ length: 10 }, () => sql`select pg_advisory_xact_lock_shared(20261206)`.execute(hub.database.db));
    await expect.poll(() => pool.waitingCount + pool.idleCount, { timeout: 10_000 }).toBe(0);

    const probes = await Promise.all(Array.from({ length: 100 }, () => hub.http.inject({ method: 'GET', url: '/readyz' })));
    expect(new Set(probes.map((probe) => probe.statusCode))).toEqual(new Set([503]));
    // Answered, but each one's query would still wait its turn ahead of the requests behind it.
    expect(pool.waitingCount).toBeLessThanOrEqual(1);
    await blocker.query('select pg_advisory_unlock(20261206)');
    await Promise.all(held);
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

describe('readiness probes', () => {
  let database: TestDatabase;
  let hub: Hub;
  // Made in a hook, whose time limit is a fresh database's and hub's on a busy machine, not a test's.
  beforeAll(async () => {
    database = await createTestDatabase();
    hub = await createHub(loadConfig(TEST_ENV), { database });
  });
  afterAll(() => hub?.close());

  it('share the database ping under way, so a flood of probes costs the database one query at a time', async () => {
    // A database that takes 50 ms to answer, as a loaded one does.
    const ping = database.ping;
    let pings = 0;
    let down = false;
    database.ping = async (...args) => {
      pings += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return ping(...args);
    };

    const probes = await Promise.all(Array.from({ length: 50 }, () => hub.http.inject({ method: 'GET', url: '/readyz' })));
    expect(probes.map((probe) => probe.statusCode)).toEqual(Array(50).fill(200));
    expect(pings).toBe(1);

    // Each probe after the ping settled asks anew: a failure is not kept, nor a success.
    down = true;
    expect((await hub.http.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    down = false;
    expect((await hub.http.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect(pings).toBe(3);
  });
});
