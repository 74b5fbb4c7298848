import net from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { graphql, signUpUser, TEST_ENV } from '../helpers/hub.js';

/**
 * A proxy in front of the server that can partition it: from `partition()` on, nothing more
 * passes either way, and the sockets stay open (a dropped route, a firewall that drops), for the
 * connections open and new ones alike.
 */
async function partitionableProxy(databaseUrl: string) {
  const target = new URL(databaseUrl);
  let partitioned = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => void (partitioned || upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => void (partitioned || client.write(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: url.toString(),
    partition: () => void (partitioned = true),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// A partition needs a server across a network; PGlite lives inside the hub.
describe.skipIf(!testServerUrl())('closing the hub while its database is partitioned away', () => {
  it('ends in bounded time, logging the audit events it could not write rather than hanging on them', async () => {
    const database = await createTestDatabase();
    const proxy = await partitionableProxy(database.url!);
    const lines: string[] = [];
    const logger = createLogger(
      { logLevel: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const config = loadConfig({ ...TEST_ENV, DATABASE_URL: proxy.url, LOG_LEVEL: 'info', HUB_WEBHOOK_TIMEOUT: '1' });
    // Events stay buffered until the close: the read's event is still waiting when the partition begins.
    const hub = await createHub(config, { database: openDatabase({ url: proxy.url }), logger, audit: { flushIntervalMs: 600_000, maxBatch: 10_000, closeTimeoutMs: 1_000 } });
    onTestFinished(async () => {
      await proxy.close();
      await database.close();
    });
    const user = await signUpUser(hub);
    const read = await graphql<{ me: { email: string } }>(hub, '{ me { email } }', { token: user.accessToken });
    expect(read.data?.me.email).toBe(user.email);
    expect(hub.services.audit.pending).toBeGreaterThan(0);

    proxy.partition();
    const closed = hub.close().then(() => 'closed');
    const outcome = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still closing after 60 s'), 60_000))]);
    expect(outcome).toBe('closed');
    expect(lines.some((line) => line.includes('could not be written and are lost') && line.includes('profile.read'))).toBe(true);
  }, 120_000);
});
