import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { fixedClock } from '../../src/shared/clock.js';
import { enqueueWebhookEvent } from '../../src/webhooks/webhook-outbox.js';
import { registerAgent } from '../helpers/oauth.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, startWebhookHub, subscribe, type TestClock } from './webhook-hub.js';

/**
 * README: a worker "keeps up to 10 attempts in flight … so a receiver that hangs delays no other
 * receiver's deliveries". An event committed while the worker's run waits on a hung attempt
 * must go out at once: its NOTIFY wakes the worker, and nine slots are free.
 */
describe('the hub’s own delivery worker, while one receiver hangs', () => {
  // The hung attempt waits the longest a delivery may (HUB_WEBHOOK_TIMEOUT), far longer than the
  // healthy delivery takes however slow this run: what is pinned is that it does not wait for
  // the hung attempt to end, not how fast it goes.
  const TIMEOUT_SECONDS = 60;
  let hub: Hub;
  let clock: TestClock;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    ({ hub, clock } = await startWebhookHub({ HUB_WEBHOOK_WORKER: 'true', HUB_WEBHOOK_POLL_INTERVAL: '3600', HUB_WEBHOOK_TIMEOUT: String(TIMEOUT_SECONDS) }, fixedClock(new Date())));
  });
  afterAll(async () => {
    for (const r of receivers) r.release(200);
    await hub.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it('sends an event committed meanwhile to a healthy receiver without waiting for the hung attempt to end', async () => {
    const admin = await adminToken(hub);
    const hung = await startReceiver({ secrets: () => ({}), answer: () => 'hold', at: () => clock.now() });
    const healthy = await startReceiver({ secrets: () => ({}), at: () => clock.now() });
    receivers.push(hung, healthy);
    await subscribe(hub, admin, hung.url, ['agent.suspended']);
    await subscribe(hub, admin, healthy.url, ['agent.registered']);

    await enqueueWebhookEvent(hub.services.db, { type: 'agent.suspended', data: { agentId: 'agt_x', ownerUserId: null } }, clock.now());
    await expect.poll(() => hung.requests.length, { timeout: 15_000 }).toBe(1);

    // The hung attempt holds one slot of ten for up to a minute; this event's commit wakes the worker.
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await expect.poll(() => healthy.accepted.length, { timeout: (TIMEOUT_SECONDS - 15) * 1_000, interval: 50 }).toBe(1);
  }, 90_000);
});
