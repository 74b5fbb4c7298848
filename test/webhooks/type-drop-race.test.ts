import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import type { DeliveryWorker } from '../../src/webhooks/delivery-worker.js';
import { enqueueWebhookEvent } from '../../src/webhooks/webhook-outbox.js';
import { testServerUrl } from '../helpers/database.js';
import { graphql } from '../helpers/hub.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, deliveryLog, startWebhookHub, subscribe, type TestClock } from './webhook-hub.js';

// A change enqueues its event for the subscribers it reads in its own transaction, without
// blocking an update of them (that would deadlock with the audit chain). An update that drops the
// event's type and commits before the change does finds no delivery to end: the claim ends it.
// The interleaving needs two connections, which PGlite does not have.
describe.skipIf(testServerUrl() === undefined)('an event enqueued while an update drops its type from the subscription', () => {
  let hub: Hub;
  let clock: TestClock;
  let worker: DeliveryWorker;
  let receiver: Receiver;
  const secrets: Record<string, string> = {};
  beforeAll(async () => {
    ({ hub, clock } = await startWebhookHub());
    receiver = await startReceiver({ secrets: () => secrets, at: () => clock.now() });
    worker = hub.services.webhooks.createWorker();
  });
  afterAll(async () => {
    await worker.stop();
    await receiver.close();
    await hub.close();
  });

  it('is never sent, and ends as failed, naming why', async () => {
    const admin = await adminToken(hub);
    const { id, secret } = await subscribe(hub, admin, receiver.url, ['consent.withdrawn', 'agent.registered']);
    secrets.current = secret;
    let commit!: () => void;
    const gate = new Promise<void>((resolve) => (commit = resolve));
    let enqueued!: () => void;
    const inFlight = new Promise<void>((resolve) => (enqueued = resolve));
    const producing = hub.services.db.transaction().execute(async (tx) => {
      await enqueueWebhookEvent(tx, { type: 'consent.withdrawn', data: { consentId: 'cns_01J00000000000000000000000', userId: 'usr_01J00000000000000000000000', purpose: 'support', agentId: null } }, clock.now());
      enqueued();
      await gate;
    });
    await inFlight;
    const updated = await graphql<any>(hub, 'mutation($id: ID!, $input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(id: $id, input: $input) { eventTypes } }', {
      token: admin,
      variables: { id, input: { eventTypes: ['agent.registered'] } },
    });
    expect(updated.data.updateWebhookSubscription).toEqual({ eventTypes: ['agent.registered'] });
    commit();
    await producing;

    await worker.deliverDue();
    expect(receiver.requests).toEqual([]);
    expect((await deliveryLog(hub, admin, id)).map((d) => ({ eventType: d.eventType, status: d.status, attemptCount: d.attemptCount, lastError: d.lastError }))).toEqual([
      { eventType: 'consent.withdrawn', status: 'FAILED', attemptCount: 0, lastError: 'the subscription no longer takes this event type' },
    ]);
  });
});
