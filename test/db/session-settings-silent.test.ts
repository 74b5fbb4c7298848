import net from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';

/**
 * A proxy to the server that passes the startup and then takes the session's first statement
 * (the hub's settings) without passing it or answering, nor resetting: a flow lost between the
 * connection's opening and its first statement.
 */
async function silentAfterStartup(url: string): Promise<{ url: string; close: () => void }> {
  const target = new URL(url);
  const [host, port] = [target.hostname, Number(target.port || 5432)];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    let silent = false;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      // A simple-protocol Query: from here on nothing passes either way.
      if (chunk[0] === 0x51) silent = true;
      if (!silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!silent) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target.hostname = '127.0.0.1';
  target.port = String((server.address() as net.AddressInfo).port);
  return {
    url: target.toString(),
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

// PGlite runs inside the hub, with no connection to lose.
describe.skipIf(!testServerUrl())('a pooled connection lost before its settings are answered', () => {
  let database: TestDatabase;
  let proxy: { url: string; close: () => void };
  beforeAll(async () => {
    database = await createTestDatabase();
    proxy = await silentAfterStartup(database.url!);
  });
  afterAll(async () => {
    proxy?.close();
    await database?.close();
  });

  it('fails the statement waiting for it within the connection timeout, not never', async () => {
    const lost = openDatabase({ url: proxy.url, poolSize: 1, statementTimeoutMs: 200, answerMarginMs: 300 });
    try {
      const answer = sql`select 1`.execute(lost.db).then(
        () => 'answered',
        () => 'failed',
      );
      const waited = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 15_000).unref());
      expect(await Promise.race([answer, waited])).toBe('failed');
    } finally {
      proxy.close();
      await lost.close();
    }
  }, 30_000);
});
