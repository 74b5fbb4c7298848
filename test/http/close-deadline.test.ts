import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { CLOSE_GRACE_MS } from '../../src/http/server.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { freePort } from '../helpers/net.js';

describe('closing the hub while a client stalls mid-request', () => {
  it('cuts that connection after the grace period, then writes its audit trail and closes', async () => {
    const port = await freePort();
    const database = await createTestDatabase();
    // The hub closes a database it is handed; this one stays open to read what the hub wrote.
    const hub = await createHub(loadConfig({ ...TEST_ENV, PORT: String(port) }), { database: { ...database, close: async () => {} } });
    await hub.listen();
    // An event the audit writer holds in its buffer until the hub closes.
    const user = await signUpUser(hub);
    await graphql(hub, '{ me { givenName } }', { token: user.accessToken });

    // Headers and part of a body, then nothing: a request in flight that never ends.
    const stalled = net.connect(port, '127.0.0.1');
    await once(stalled, 'connect');
    stalled.write('POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":');
    const cut = once(stalled, 'close');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const started = performance.now();
    await hub.close();
    const elapsed = performance.now() - started;
    await cut;
    expect(elapsed).toBeGreaterThanOrEqual(CLOSE_GRACE_MS - 100);
    expect(elapsed).toBeLessThan(CLOSE_GRACE_MS + 15_000);
    try {
      const reads = await database.db.selectFrom('audit_events').select('action').where('subject_user_id', '=', user.id).where('action', '=', 'profile.read').execute();
      expect(reads).toHaveLength(1);
    } finally {
      await database.close();
    }
  }, 90_000);
});
