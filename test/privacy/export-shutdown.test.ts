import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createHub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

// An export outlives its request: its `data.exported` event is recorded when its body ends or
// closes, which may be after the connection has gone. A hub shutting down must not close its
// audit writer before the bodies it is still reading have recorded what they handed over.

const database = await createTestDatabase();
afterAll(() => database.close());

describe('a data export under way as the hub shuts down', () => {
  it('records its data.exported event before the audit writer closes', async () => {
    // The database outlives the hub, so that what the hub wrote can be read after it closed.
    const hub = await createHub(loadConfig(TEST_ENV), { database: { ...database, close: async () => {} } });
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });

    // The export's read of its consents' history waits for `gate`: the body is then mid-read.
    let entered!: () => void;
    const reading = new Promise<void>((resolve) => (entered = resolve));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const findHistory = hub.services.consents.findHistory;
    hub.services.consents.findHistory = async (...args) => {
      entered();
      await gate;
      return findHistory(...args);
    };
    // The read goes on once the writer is closing, or after a while if closing waits for it.
    const close = hub.services.audit.close.bind(hub.services.audit);
    hub.services.audit.close = () => {
      open();
      return close();
    };

    await hub.http.listen({ host: '127.0.0.1', port: 0 });
    const { port } = hub.http.server.address() as AddressInfo;
    const exporting = request({ host: '127.0.0.1', port, path: `/users/${user.id}/export`, headers: { authorization: `Bearer ${user.accessToken}` } });
    const started = new Promise<void>((resolve, reject) => exporting.once('response', () => resolve()).once('error', reject));
    exporting.end();
    await started;
    await reading;
    // The reader leaves, and the hub is told to stop.
    exporting.destroy();
    exporting.on('error', () => {});
    setTimeout(open, 500).unref();
    await hub.close();

    const events = await findAuditEvents(database.db, { filter: { userId: user.id, action: 'data.exported' } });
    expect(events.edges.map(({ node }) => ({ decision: node.decision, complete: node.detail.complete }))).toEqual([{ decision: 'ALLOW', complete: false }]);
  });
});
