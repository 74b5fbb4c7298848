import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { endDeliveriesOfOtherTypes } from '../../src/webhooks/delivery.queries.js';
import type { DeliveryWorker } from '../../src/webhooks/delivery-worker.js';
import { findSubscriptionForUpdate } from '../../src/webhooks/subscription.queries.js';
import { testServerUrl } from '../helpers/database.js';
import { registerAgent } from '../helpers/oauth.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, deliveryLog, startWebhookHub, subscribe, type TestClock } from './webhook-hub.js';

// The last failed attempt of a delivery may disable its subscription (every attempt failed for
// 5 days), and an operator's update of a subscription ends deliveries of the types it drops: both
// lock the subscription and the delivery. Taken in opposite orders, the two deadlock and PostgreSQL
// aborts one. The interleaving needs two connections, which PGlite does not have.
describe.skipIf(testServerUrl() === undefined)('a last failed attempt while an operator updates its subscription', () => {
  let hub: Hub;
  let clock: TestClock;
  let worker: DeliveryWorker;
  let receiver: Receiver;
  beforeAll(async () => {
    ({ hub, clock } = await startWebhookHub({ HUB_WEBHOOK_TIMEOUT: '1' }));
    receiver = await startReceiver({ secrets: () => ({}), answer: () => ({ status: 500 }), at: () => clock.now() });
    worker = hub.services.webhooks.createWorker();
  });
  afterAll(async () => {
    await worker.stop();
    await receiver.close();
    await hub.close();
  });

  it('locks the subscription before the delivery, so the update never waits on the attempt', async () => {
    // Days pass, so each look at the log signs the operator in afresh.
    const log = async () => deliveryLog(hub, await adminToken(hub), id);
    const admin = await adminToken(hub);
    const { id } = await subscribe(hub, admin, receiver.url, ['agent.registered', 'agent.suspended']);
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    for (let attempt = 1; attempt < 8; attempt++) {
      expect(await worker.deliverDue()).toBe(1);
      clock.set((await log())[0]!.nextAttemptAt!);
    }
    // Failing for 5 days by the eighth attempt: it would disable the subscription.
    clock.advance(5 * 86_400);

    const waiting = async () =>
      Number((await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(hub.services.db)).rows[0]!.n);
    let attempting: Promise<number> | undefined;
    const ended = await hub.services.db.transaction().execute(async (tx) => {
      await findSubscriptionForUpdate(tx, id);
      attempting = worker.deliverDue();
      await expect.poll(waiting, { timeout: 5_000 }).toBe(1);
      // Short of PostgreSQL's deadlock_timeout: a wait here is the deadlock's first half.
      await sql`set local lock_timeout = '500ms'`.execute(tx);
      return endDeliveriesOfOtherTypes(tx, id, ['agent.suspended']);
    });
    expect(ended).toBe(1);
    expect(await attempting).toBe(1);

    const [delivery] = await log();
    expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 8, lastError: 'the subscription no longer takes this event type' });
  });
});
