import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotifiedCache } from '../../src/db/notified-cache.js';
import { listenOnPglite, serverListener, type Listen } from '../../src/db/notifications.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { proxyDatabase, type ListenReply, type TcpProxy } from '../helpers/tcp-proxy.js';

// A LISTEN connection is lost in transit only to a server; PGlite lives inside the process.
describe.skipIf(!testServerUrl())('LISTEN on a PostgreSQL server', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let viaProxy: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    ({ proxy, url: viaProxy } = await proxyDatabase(database.url!));
  });
  afterAll(async () => {
    await proxy.close();
    await database.close();
  });

  /** A listener on `channel` through the proxy that records what it hears and its state changes. */
  function listen(channel = 'test_channel', on: Listen = serverListener(viaProxy)) {
    const heard: string[] = [];
    const states: boolean[] = [];
    const stop = on(channel, { onMessage: (payload) => heard.push(payload), onState: (listening) => states.push(listening) });
    return { heard, states, stop, listening: () => states.at(-1) === true };
  }
  const notify = (payload: string, channel = 'test_channel') => sql`select pg_notify(${channel}, ${payload})`.execute(database.db);

  it('carries every channel on one connection, each heard only by its own listeners, and closes it with the last', async () => {
    const shared = serverListener(viaProxy);
    const agents = listen('test_agents', shared);
    const purposes = listen('test_purposes', shared);
    await expect.poll(() => agents.listening() && purposes.listening(), { timeout: 5_000 }).toBe(true);
    const late = listen('test_purposes', shared);
    expect(late.states).toEqual([true]);
    expect(proxy.listening()).toBe(1);
    await notify('a', 'test_agents');
    await notify('p', 'test_purposes');
    await expect.poll(() => [agents.heard, purposes.heard, late.heard]).toEqual([['a'], ['p'], ['p']]);

    await purposes.stop();
    await late.stop();
    await notify('a2', 'test_agents');
    await notify('p2', 'test_purposes');
    await expect.poll(() => agents.heard).toEqual(['a', 'a2']);
    expect(purposes.heard).toEqual(['p']);
    expect(proxy.listening()).toBe(1);
    await agents.stop();
    await expect.poll(() => proxy.listening()).toBe(0);
    expect([agents.states, purposes.states, late.states]).toEqual([[true, false], [true, false], [true, false]]);

    // A listener after the last stopped opens a connection again.
    const again = listen('test_agents', shared);
    try {
      await expect.poll(again.listening, { timeout: 5_000 }).toBe(true);
      expect(proxy.listening()).toBe(1);
    } finally {
      await again.stop();
    }
  });

  it('listens on a channel first asked for once the connection is already open', async () => {
    const shared = serverListener(viaProxy);
    const first = listen('test_first', shared);
    await expect.poll(first.listening, { timeout: 5_000 }).toBe(true);
    const later = listen('test_later', shared);
    try {
      await expect.poll(later.listening, { timeout: 5_000 }).toBe(true);
      expect(proxy.listening()).toBe(1);
      await notify('late news', 'test_later');
      await expect.poll(() => later.heard).toEqual(['late news']);
    } finally {
      await later.stop();
      await first.stop();
    }
  });

  it('reports a connection that silently stopped carrying anything as lost within seconds, and listens again once it carries again', async () => {
    const shared = serverListener(viaProxy);
    const listener = listen('test_channel', shared);
    const other = listen('test_other', shared);
    try {
      await expect.poll(listener.listening, { timeout: 5_000 }).toBe(true);
      await notify('before');
      await expect.poll(() => listener.heard).toEqual(['before']);

      proxy.setListenerTraffic('drop');
      const dropped = performance.now();
      await expect.poll(listener.listening, { timeout: 10_000 }).toBe(false);
      expect(performance.now() - dropped).toBeLessThan(6_000);

      // Reopening hangs while the traffic is dropped; a hung opening is given up and retried.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      proxy.setListenerTraffic('pass');
      await expect.poll(listener.listening, { timeout: 15_000 }).toBe(true);
      await notify('after');
      await expect.poll(() => listener.heard).toEqual(['before', 'after']);
      // Every channel of the connection was lost with it, and is back with it.
      expect(other.states.slice(0, 2)).toEqual([true, false]);
      expect(other.listening()).toBe(true);
      await notify('other', 'test_other');
      await expect.poll(() => other.heard).toEqual(['other']);
    } finally {
      proxy.setListenerTraffic('pass');
      await listener.stop();
      await other.stop();
    }
  }, 40_000);

  // A LISTEN that fails on a connection that stays up: a server that refuses it (a standby after a
  // failover), or one whose answer never comes.
  for (const [reply, what] of [
    ['refuse', 'the server refuses'],
    ['ignore', 'is never answered'],
  ] as [ListenReply, string][]) {
    it(`reports a channel whose LISTEN ${what} as not listening, so no cache trusts it, and asks again until it listens`, async () => {
      const shared = serverListener(viaProxy);
      const refusedBefore = proxy.listensRefused();
      proxy.setListenReply(reply);
      const listener = listen('test_refused', shared);
      let stopCache: (() => Promise<void>) | undefined;
      const cache = new NotifiedCache<{ read: number }>('test_refused', (channel, handlers) => (stopCache = shared(channel, handlers)), { max: 10, ttlMs: 60_000 });
      let reads = 0;
      const read = async () => (await cache.get('key', async () => ({ read: ++reads })))!.read;
      try {
        await expect.poll(() => proxy.listensRefused() - refusedBefore).toBeGreaterThanOrEqual(2);
        expect(listener.states).not.toContain(true);
        expect([await read(), await read()]).toEqual([1, 2]);

        proxy.setListenReply('pass');
        await expect.poll(listener.listening).toBe(true);
        expect([await read(), await read()]).toEqual([3, 3]);
        await notify('changed', 'test_refused');
        await expect.poll(read).toBe(4);
      } finally {
        proxy.setListenReply('pass');
        await listener.stop();
        await stopCache?.();
      }
    }, 30_000);
  }

  it('reports a connection that carries no notification as not listening, as through a pooler in transaction mode, until it carries them', async () => {
    // PgBouncer in transaction mode runs the LISTEN, answers it and every heartbeat, and drops
    // the notifications: they reach the server connection while no client holds it.
    proxy.setNotifications('drop');
    const deaf = listen();
    try {
      await expect.poll(() => proxy.listening(), { timeout: 5_000 }).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(deaf.states.includes(true)).toBe(false);
      proxy.setNotifications('pass');
      await expect.poll(deaf.listening, { timeout: 10_000 }).toBe(true);
      await notify('heard');
      await expect.poll(() => deaf.heard).toEqual(['heard']);
    } finally {
      proxy.setNotifications('pass');
      await deaf.stop();
    }
  });

  it('keeps listening on a connection that is slow but healthy', async () => {
    const listener = listen();
    try {
      await expect.poll(listener.listening, { timeout: 5_000 }).toBe(true);
      proxy.setListenerTraffic({ delayMs: 500 });
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      await notify('late');
      await expect.poll(() => listener.heard).toEqual(['late']);
      expect(listener.states).toEqual([true]);
    } finally {
      proxy.setListenerTraffic('pass');
      await listener.stop();
    }
  }, 20_000);
});

describe('channel names', () => {
  it('refuses one that is not a plain lowercase name, since it is written into the LISTEN statement', () => {
    const listen = serverListener('postgres://nobody@127.0.0.1:1/none');
    const handlers = { onMessage: () => {}, onState: () => {} };
    for (const channel of ['hub; drop table users', 'Hub', 'hub"x', '', 'a'.repeat(64)]) {
      expect(() => listen(channel, handlers), channel).toThrow(TypeError);
    }
  });
});

describe('LISTEN on embedded PGlite', () => {
  let pglite: PGlite;
  beforeAll(async () => {
    pglite = await PGlite.create();
  });
  afterAll(() => pglite.close());

  it('hears notifications once listening, and reports a listener stopped before its LISTEN was in place as not listening', async () => {
    const heard: string[] = [];
    const states: boolean[] = [];
    const stop = listenOnPglite(pglite, 'test_channel', { onMessage: (payload) => heard.push(payload), onState: (listening) => states.push(listening) });
    await expect.poll(() => states).toEqual([true]);
    await pglite.query(`select pg_notify('test_channel', 'hello')`);
    await expect.poll(() => heard).toEqual(['hello']);
    await stop();
    expect(states).toEqual([true, false]);

    // A cache trusting the last state would hold entries that no notification will ever clear.
    const early: boolean[] = [];
    await listenOnPglite(pglite, 'test_channel', { onMessage: () => {}, onState: (listening) => early.push(listening) })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(early).toEqual([false]);
  });
});
