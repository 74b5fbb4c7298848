import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { createLogger } from '../../src/shared/logger.js';
import { limitLookups, type Resolve } from '../../src/webhooks/url-guard.js';
import { enqueueWebhookEvent } from '../../src/webhooks/webhook-outbox.js';
import { createWebhookService } from '../../src/webhooks/webhook.service.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, deliveryLog, startWebhookHub, type TestClock } from './webhook-hub.js';

/**
 * One subscriber's name server answering slowly (its own domain, which it controls) must not make
 * the hub fail the deliveries to everyone else: the hub's lookups share two slots, and a lookup
 * keeps its slot until the system resolver gives up, long after the delivery stopped waiting.
 */
describe('a subscriber whose name server is slow', () => {
  let hub: Hub;
  let clock: TestClock;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    ({ hub, clock } = await startWebhookHub());
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await hub.close();
  });

  it('does not make the deliveries to another subscriber’s healthy host fail', async () => {
    let slow = false;
    const lookups: string[] = [];
    // The system resolver as the hub limits it (2 at once), over a slow.example whose name server
    // takes 8 s to answer once the subscription exists (a getaddrinfo timeout and retry).
    const raw: Resolve = async (host) => {
      lookups.push(host);
      if (host === 'slow.example' && slow) await new Promise((r) => setTimeout(r, 8_000));
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const resolve = limitLookups(raw, 2);
    const service = createWebhookService({ db: hub.services.db, clock, kek: resolveKeyEncryptionKey(hub.config), logger: createLogger(hub.config), config: hub.config, resolve });
    const healthy = await startReceiver({ secrets: () => ({}), at: () => clock.now() });
    const other = await startReceiver({ secrets: () => ({}), at: () => clock.now() });
    receivers.push(healthy, other);
    const caller = { principal: ANONYMOUS, requestId: null };
    await service.create({ url: `http://slow.example:${other.port}/hooks`, eventTypes: ['agent.suspended'] }, caller);
    const good = await service.create({ url: `http://fast.example:${healthy.port}/hooks`, eventTypes: ['consent.withdrawn'] }, caller);
    slow = true;
    lookups.length = 0;

    // Two events for the slow subscriber: its two attempts in flight take both lookup slots.
    await enqueueWebhookEvent(hub.services.db, [0, 1].map((i) => ({ type: 'agent.suspended' as const, data: { agentId: `agt_${i}`, ownerUserId: null } })), clock.now());
    const busy = service.createWorker();
    const first = busy.deliverDue();
    await expect.poll(() => lookups.includes('slow.example')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));

    // Then one event for the healthy subscriber, sent by another run of the same hub.
    await enqueueWebhookEvent(hub.services.db, { type: 'consent.withdrawn', data: { consentId: 'cns_0', userId: 'usr_x', purpose: 'support', agentId: null } }, clock.now());
    const worker = service.createWorker();
    await worker.deliverDue();
    await first;
    await Promise.all([busy.stop(), worker.stop()]);

    const [delivery] = await deliveryLog(hub, await adminToken(hub), good.subscription.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', lastError: null });
    expect(healthy.accepted).toHaveLength(1);
  }, 40_000);
});
