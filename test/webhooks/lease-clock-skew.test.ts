import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { CLOCK_SKEW_MS, fixedClock } from '../../src/shared/clock.js';
import { registerAgent } from '../helpers/oauth.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, deliveryLog, startWebhookHub, subscribe, type TestClock } from './webhook-hub.js';

// Two delivery workers as on two instances, the second's clock ahead of the first's by less than
// the clock skew the hub allows between its instances.

describe('a delivery leased by a worker whose clock is behind another’s', () => {
  let hub: Hub;
  let clock: TestClock;
  let receiver: Receiver;
  beforeAll(async () => {
    ({ hub, clock } = await startWebhookHub());
  });
  afterAll(async () => {
    await receiver?.close();
    await hub.close();
  });

  it('is not taken over while its attempt is under way, and is delivered once', async () => {
    const admin = await adminToken(hub);
    const secrets: Record<string, string> = {};
    receiver = await startReceiver({ secrets: () => secrets, answer: (index) => (index === 0 ? 'hold' : { status: 200 }), at: () => clock.now() });
    const subscription = await subscribe(hub, admin, receiver.url, ['agent.registered']);
    secrets.current = subscription.secret;
    const behind = hub.services.webhooks.createWorker();
    const ahead = fixedClock(new Date(clock.now().getTime() + CLOCK_SKEW_MS - 1_000));
    const other = hub.services.webhooks.createWorker({ clock: ahead });
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const attempt = behind.deliverDue();
    await expect.poll(() => receiver.requests.length).toBe(1);

    // A moment later on both clocks: the first attempt's lease has most of its time left.
    clock.advance(1);
    ahead.advance(1);
    expect(await other.deliverDue()).toBe(0);
    receiver.release(200);
    expect(await attempt).toBe(1);
    await Promise.all([behind.stop(), other.stop()]);

    const [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
    expect(receiver.requests).toHaveLength(1);
  });
});
