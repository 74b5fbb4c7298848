import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { createLogger } from '../../src/shared/logger.js';
import type { DeliveryWorker } from '../../src/webhooks/delivery-worker.js';
import { graphql } from '../helpers/hub.js';
import { registerAgent } from '../helpers/oauth.js';
import { startReceiver, type Answer, type Receiver } from './receiver.js';
import { adminToken, deliveryLog, startWebhookHub, subscribe, type TestClock } from './webhook-hub.js';

describe('webhook delivery attempts', () => {
  let hub: Hub;
  let clock: TestClock;
  let worker: DeliveryWorker;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    ({ hub, clock } = await startWebhookHub({ HUB_WEBHOOK_TIMEOUT: '1' }));
    worker = hub.services.webhooks.createWorker();
  });
  afterAll(async () => {
    await worker.stop();
    await Promise.all(receivers.map((r) => r.close()));
    await hub.close();
  });

  /** A receiver answering as `answers` says, subscribed alone to agent.registered; and a way to make one event. */
  async function setUp(answers: (index: number) => Answer) {
    const admin = await adminToken(hub);
    const all = await graphql<{ webhookSubscriptions: { edges: { node: { id: string } }[] } }>(hub, '{ webhookSubscriptions(first: 100) { edges { node { id } } } }', { token: admin });
    for (const { node } of all.data!.webhookSubscriptions.edges) await graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id: node.id } });
    const secrets: Record<string, string> = {};
    const receiver = await startReceiver({ secrets: () => secrets, answer: answers, at: () => clock.now() });
    receivers.push(receiver);
    const subscription = await subscribe(hub, admin, receiver.url, ['agent.registered']);
    secrets.current = subscription.secret;
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    return { admin, receiver, subscription, secrets, agent };
  }
  const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1_000;

  it('retries a receiver that fails twice on the schedule (5 s, then 5 min, with jitter) until it gets the event, once by webhook-id', async () => {
    const { admin, receiver, subscription } = await setUp((index) => ({ status: index < 2 ? 500 : 204 }));
    const start = clock.now().toISOString();
    expect(await worker.deliverDue()).toBe(1);
    let [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'PENDING', attemptCount: 1, lastStatusCode: 500 });
    expect(seconds(start, delivery!.nextAttemptAt!)).toBeGreaterThanOrEqual(4.5);
    expect(seconds(start, delivery!.nextAttemptAt!)).toBeLessThanOrEqual(5.5);
    expect(await worker.deliverDue()).toBe(0);

    clock.set(delivery!.nextAttemptAt!);
    expect(await worker.deliverDue()).toBe(1);
    [delivery] = await deliveryLog(hub, admin, subscription.id);
    const second = delivery!.attempts[1]!;
    expect(seconds(second.attemptedAt, second.nextAttemptAt!)).toBeGreaterThanOrEqual(270);
    expect(seconds(second.attemptedAt, second.nextAttemptAt!)).toBeLessThanOrEqual(330);

    clock.set(delivery!.nextAttemptAt!);
    expect(await worker.deliverDue()).toBe(1);
    [delivery] = await deliveryLog(hub, await adminToken(hub), subscription.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 3, lastStatusCode: 204, nextAttemptAt: null, deliveredAt: clock.now().toISOString() });
    expect(delivery!.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([[1, 500], [2, 500], [3, 204]]);
    expect(delivery!.attempts.map((a) => a.attemptedAt)).toEqual([start, delivery!.attempts[0]!.nextAttemptAt, delivery!.attempts[1]!.nextAttemptAt]);

    expect(new Set(receiver.requests.map((r) => r.id))).toEqual(new Set([delivery!.messageId]));
    expect(receiver.requests.map((r) => r.verifiedBy)).toEqual([['current'], ['current'], ['current']]);
    expect(new Set(receiver.requests.map((r) => r.timestamp)).size).toBe(3);
    expect(receiver.accepted).toEqual([delivery!.messageId]);
    expect(await worker.deliverDue()).toBe(0);
  });

  it('waits as long as Retry-After asks, in seconds or as a date, when that is longer than the schedule', async () => {
    const later = () => new Date(clock.now().getTime() + 600_000).toUTCString();
    const { admin, subscription } = await setUp((index) => (index === 0 ? { status: 429, headers: { 'retry-after': '120' } } : index === 1 ? { status: 503, headers: { 'retry-after': later() } } : { status: 200 }));
    await worker.deliverDue();
    let [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(seconds(delivery!.attempts[0]!.attemptedAt, delivery!.nextAttemptAt!)).toBe(120);
    clock.set(delivery!.nextAttemptAt!);
    await worker.deliverDue();
    [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(seconds(delivery!.attempts[1]!.attemptedAt, delivery!.nextAttemptAt!)).toBe(600);
    clock.advance(599);
    expect(await worker.deliverDue()).toBe(0);
    clock.advance(1);
    expect(await worker.deliverDue()).toBe(1);
    expect((await deliveryLog(hub, await adminToken(hub), subscription.id))[0]!.status).toBe('SUCCEEDED');
  });

  it('disables the subscription when the receiver answers 410 Gone, says so in the log, and sends it nothing more', async () => {
    const { admin, receiver, subscription } = await setUp(() => ({ status: 410 }));
    const lines: string[] = [];
    const logged = hub.services.webhooks.createWorker({ logger: createLogger({ logLevel: 'info' }, { write: (line: string) => lines.push(line) }) });
    await logged.deliverDue();
    await logged.stop();
    // Someone has to enable it again: the audit trail alone is not where an operator looks.
    expect(lines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ level: 40, subscriptionId: subscription.id, reason: 'the receiver answered 410 Gone', msg: expect.stringContaining('webhook subscription disabled') }),
    );
    const [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 1, lastStatusCode: 410, nextAttemptAt: null });
    const state = await graphql<{ webhookSubscription: { status: string; disabledReason: string } }>(hub, 'query($id: ID!) { webhookSubscription(id: $id) { status disabledReason } }', { token: admin, variables: { id: subscription.id } });
    expect(state.data!.webhookSubscription).toEqual({ status: 'DISABLED', disabledReason: 'GONE' });
    // An operator disabling it as well changes nothing: the reason stays the receiver's.
    const disabled = await graphql<{ disableWebhookSubscription: unknown }>(hub, 'mutation($id: ID!) { disableWebhookSubscription(id: $id) { status disabledReason } }', {
      token: admin,
      variables: { id: subscription.id },
    });
    expect(disabled.data!.disableWebhookSubscription).toEqual({ status: 'DISABLED', disabledReason: 'GONE' });
    const audit = await hub.services.db.selectFrom('audit_events').select(['actor_kind', 'reason']).where('action', '=', 'webhook.disabled').execute();
    expect(audit).toEqual([{ actor_kind: 'system', reason: 'the receiver answered 410 Gone' }]);
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    expect(await worker.deliverDue()).toBe(0);
    expect(receiver.requests).toHaveLength(1);
    const redeliver = await graphql(hub, 'mutation($s: ID!, $m: ID!) { redeliverWebhookMessage(subscriptionId: $s, messageId: $m) { status } }', {
      token: admin,
      variables: { s: subscription.id, m: delivery!.messageId },
    });
    expect(redeliver.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'subscriptionId' });
  });

  it('takes a 410 Gone from the URL an operator moved the subscription away from meanwhile as a failure: retried at the new URL, disabling nothing', async () => {
    const { admin, receiver: old, subscription, secrets } = await setUp(() => 'hold');
    const moved = await startReceiver({ secrets: () => secrets, at: () => clock.now() });
    receivers.push(moved);
    const patient = hub.services.webhooks.createWorker({ timeoutSeconds: 10 });
    const run = patient.deliverDue();
    await expect.poll(() => old.requests.length).toBe(1);
    const update = await graphql(hub, 'mutation($id: ID!, $url: String!) { updateWebhookSubscription(id: $id, input: { url: $url }) { url } }', {
      token: admin,
      variables: { id: subscription.id, url: moved.url },
    });
    expect(update.errors).toBeUndefined();
    old.release(410);
    expect(await run).toBe(1);
    await patient.stop();

    const state = await graphql<{ webhookSubscription: { status: string; disabledReason: string | null } }>(hub, 'query($id: ID!) { webhookSubscription(id: $id) { status disabledReason } }', {
      token: admin,
      variables: { id: subscription.id },
    });
    expect(state.data!.webhookSubscription).toEqual({ status: 'ENABLED', disabledReason: null });
    let [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'PENDING', attemptCount: 1, lastStatusCode: 410 });
    clock.set(delivery!.nextAttemptAt!);
    expect(await worker.deliverDue()).toBe(1);
    [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2 });
    expect(moved.accepted).toEqual([delivery!.messageId]);
  });

  it('ends the pending deliveries of an event type the subscription no longer takes, and sends the others on', async () => {
    const { admin, receiver, subscription, agent } = await setUp((index) => ({ status: index < 2 ? 500 : 204 }));
    const update = (eventTypes: string[]) =>
      graphql(hub, 'mutation($id: ID!, $types: [String!]!) { updateWebhookSubscription(id: $id, input: { eventTypes: $types }) { eventTypes } }', {
        token: admin,
        variables: { id: subscription.id, types: eventTypes },
      });
    expect((await update(['agent.registered', 'agent.suspended'])).errors).toBeUndefined();
    expect((await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { id } }', { token: admin, variables: { id: agent.id } })).errors).toBeUndefined();
    expect(await worker.deliverDue()).toBe(2);
    expect((await deliveryLog(hub, admin, subscription.id)).map((d) => d.status)).toEqual(['PENDING', 'PENDING']);

    expect((await update(['agent.suspended'])).errors).toBeUndefined();
    const byType = Object.fromEntries((await deliveryLog(hub, admin, subscription.id)).map((d) => [d.eventType, d]));
    expect(byType['agent.registered']).toMatchObject({ status: 'FAILED', nextAttemptAt: null, lastStatusCode: 500, lastError: 'the subscription no longer takes this event type', attemptCount: 1 });
    expect(byType['agent.suspended']).toMatchObject({ status: 'PENDING', attemptCount: 1 });
    const audit = await hub.services.db.selectFrom('audit_events').select('detail').where('action', '=', 'webhook.updated').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(audit.detail).toMatchObject({ subscriptionId: subscription.id, changed: ['eventTypes'], deliveriesEnded: 1 });

    clock.advance(3_600);
    expect(await worker.deliverDue()).toBe(1);
    expect(receiver.requests.map((r) => r.payload.type)).toEqual(['agent.registered', 'agent.suspended', 'agent.suspended']);
  });

  /** Steps of a scenario that spans days, for one subscription; days pass, so each signs the operator in afresh. */
  function overDays(subscriptionId: string) {
    const admin = () => adminToken(hub);
    return {
      admin,
      register: async () => registerAgent(hub, await admin(), { allowedScopes: ['orders:read'] }),
      state: async () => (await graphql<any>(hub, 'query($id: ID!) { webhookSubscription(id: $id) { status disabledReason } }', { token: await admin(), variables: { id: subscriptionId } })).data.webhookSubscription,
      /** Runs every attempt of the one delivery due, on its schedule, until it ends (about 28 hours). */
      exhaust: async () => {
        for (let attempt = 1; attempt <= 8; attempt++) {
          expect(await worker.deliverDue()).toBe(1);
          const pending = (await deliveryLog(hub, await admin(), subscriptionId)).find((d) => d.status === 'PENDING');
          if (pending) clock.set(pending.nextAttemptAt!);
        }
      },
    };
  }

  it('disables a subscription whose receiver failed every attempt for 5 days, counting again from an operator’s re-enabling', async () => {
    const { receiver, subscription } = await setUp((index) => ({ status: index === 0 ? 204 : 500 }));
    const { admin, register, state, exhaust } = overDays(subscription.id);
    expect(await worker.deliverDue()).toBe(1);

    // A day and more of failures after a success: still enabled.
    await register();
    await exhaust();
    expect(await state()).toEqual({ status: 'ENABLED', disabledReason: null });

    clock.advance(5 * 86_400);
    await register();
    await exhaust();
    expect(await state()).toEqual({ status: 'DISABLED', disabledReason: 'FAILING' });
    const audit = await hub.services.db.selectFrom('audit_events').select(['actor_kind', 'reason']).where('action', '=', 'webhook.disabled').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(audit).toEqual({ actor_kind: 'system', reason: 'every attempt failed for 5 days' });
    const sent = receiver.requests.length;
    await register();
    expect(await worker.deliverDue()).toBe(0);
    expect(receiver.requests).toHaveLength(sent);

    // Enabled again by an operator, it has five days afresh, though nothing reached it for six.
    await graphql(hub, 'mutation($id: ID!) { enableWebhookSubscription(id: $id) { id } }', { token: await admin(), variables: { id: subscription.id } });
    await register();
    await exhaust();
    expect(await state()).toEqual({ status: 'ENABLED', disabledReason: null });
  });

  it('counts a quiet receiver’s 5 days from its first failure, not from its last success', async () => {
    const { subscription } = await setUp((index) => ({ status: index === 0 ? 204 : 500 }));
    const { register, state, exhaust } = overDays(subscription.id);
    expect(await worker.deliverDue()).toBe(1);

    // Six quiet days after a success, then one event that fails its whole round: failing a day, not six.
    clock.advance(6 * 86_400);
    await register();
    await exhaust();
    expect(await state()).toEqual({ status: 'ENABLED', disabledReason: null });

    // Four days and more after the first failure: still short of five.
    clock.advance(2 * 86_400);
    await register();
    await exhaust();
    expect(await state()).toEqual({ status: 'ENABLED', disabledReason: null });

    // Past five days of nothing but failures.
    clock.advance(86_400);
    await register();
    await exhaust();
    expect(await state()).toEqual({ status: 'DISABLED', disabledReason: 'FAILING' });
  });

  it('follows no redirect, and gives up after the eighth attempt, each wait on the schedule', async () => {
    const { receiver, subscription } = await setUp(() => ({ status: 302, headers: { location: 'http://127.0.0.1:8/elsewhere' } }));
    for (let attempt = 1; attempt <= 8; attempt++) {
      expect(await worker.deliverDue()).toBe(1);
      const [delivery] = await deliveryLog(hub, await adminToken(hub), subscription.id);
      if (attempt < 8) clock.set(delivery!.nextAttemptAt!);
      else expect(delivery).toMatchObject({ status: 'FAILED', attemptCount: 8, nextAttemptAt: null, lastError: 'redirect not followed' });
    }
    expect(receiver.requests).toHaveLength(8);
    const [delivery] = await deliveryLog(hub, await adminToken(hub), subscription.id);
    const waits = delivery!.attempts.slice(0, 7).map((a) => seconds(a.attemptedAt, a.nextAttemptAt!) / [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000][a.attempt - 1]!);
    expect(waits.every((ratio) => ratio >= 0.9 && ratio <= 1.1)).toBe(true);
    expect(delivery!.attempts.every((a) => a.statusCode === 302 && a.error === 'redirect not followed')).toBe(true);
  });

  it('takes only a 2xx as success: a 300 is a failed attempt, retried on the schedule', async () => {
    const { admin, receiver, subscription } = await setUp((index) => ({ status: index === 0 ? 300 : 299 }));
    expect(await worker.deliverDue()).toBe(1);
    let [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'PENDING', attemptCount: 1, lastStatusCode: 300, lastError: 'redirect not followed', deliveredAt: null });
    clock.set(delivery!.nextAttemptAt!);
    expect(await worker.deliverDue()).toBe(1);
    [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2, lastStatusCode: 299, lastError: null });
    expect(receiver.requests.map((r) => r.status)).toEqual([300, 299]);
  });

  it('holds a disabled subscription’s pending deliveries, sending them once an operator enables it again', async () => {
    const { admin, receiver, subscription } = await setUp(() => ({ status: 200 }));
    const setEnabled = (mutation: string) => graphql(hub, `mutation($id: ID!) { ${mutation}(id: $id) { status } }`, { token: admin, variables: { id: subscription.id } });
    expect((await setEnabled('disableWebhookSubscription')).errors).toBeUndefined();
    expect(await worker.deliverDue()).toBe(0);
    expect(receiver.requests).toEqual([]);
    expect((await deliveryLog(hub, admin, subscription.id))[0]).toMatchObject({ status: 'PENDING', attemptCount: 0 });

    expect((await setEnabled('enableWebhookSubscription')).errors).toBeUndefined();
    expect(await worker.deliverDue()).toBe(1);
    expect((await deliveryLog(hub, admin, subscription.id))[0]).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
    expect(receiver.accepted).toHaveLength(1);
  });

  it('leaves the deliveries that have ended as they were when their event type is dropped', async () => {
    const { admin, subscription } = await setUp(() => ({ status: 200 }));
    expect(await worker.deliverDue()).toBe(1);
    const [delivered] = await deliveryLog(hub, admin, subscription.id);
    expect(delivered!.status).toBe('SUCCEEDED');
    const update = await graphql(hub, 'mutation($id: ID!) { updateWebhookSubscription(id: $id, input: { eventTypes: ["agent.suspended"] }) { eventTypes } }', {
      token: admin,
      variables: { id: subscription.id },
    });
    expect(update.errors).toBeUndefined();
    expect(await deliveryLog(hub, admin, subscription.id)).toEqual([delivered]);
    const audit = await hub.services.db.selectFrom('audit_events').select('detail').where('action', '=', 'webhook.updated').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(audit.detail).not.toHaveProperty('deliveriesEnded');
  });

  it('times out a receiver that does not answer, and records why', async () => {
    const { admin, receiver, subscription } = await setUp(() => 'hold');
    expect(await worker.deliverDue()).toBe(1);
    receiver.release(200);
    const [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'PENDING', lastStatusCode: null, lastError: 'no response within 1 s' });
  });

  it('redelivers a message on demand, in a new round, with the same webhook-id', async () => {
    const { admin, receiver, subscription } = await setUp(() => ({ status: 200 }));
    await worker.deliverDue();
    const [delivered] = await deliveryLog(hub, admin, subscription.id);
    expect(delivered!.status).toBe('SUCCEEDED');
    const redeliver = await graphql<{ redeliverWebhookMessage: { status: string; trigger: string; attemptCount: number } }>(
      hub,
      'mutation($s: ID!, $m: ID!) { redeliverWebhookMessage(subscriptionId: $s, messageId: $m) { status trigger attemptCount } }',
      { token: admin, variables: { s: subscription.id, m: delivered!.messageId } },
    );
    expect(redeliver.data!.redeliverWebhookMessage).toEqual({ status: 'PENDING', trigger: 'MANUAL', attemptCount: 0 });
    expect(await worker.deliverDue()).toBe(1);
    const [again] = await deliveryLog(hub, admin, subscription.id);
    expect(again).toMatchObject({ status: 'SUCCEEDED', trigger: 'MANUAL' });
    expect(again!.attempts.map((a) => [a.attempt, a.trigger, a.statusCode])).toEqual([[1, 'SCHEDULED', 200], [1, 'MANUAL', 200]]);
    expect(receiver.requests.map((r) => r.id)).toEqual([delivered!.messageId, delivered!.messageId]);
    const unknown = await graphql(hub, 'mutation($s: ID!) { redeliverWebhookMessage(subscriptionId: $s, messageId: "msg_01J00000000000000000000000") { status } }', {
      token: admin,
      variables: { s: subscription.id },
    });
    expect(unknown.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('signs with both secrets during a rotation’s grace period, and with the new one alone after it, then shows none running', async () => {
    const { admin, receiver, subscription, secrets } = await setUp(() => ({ status: 200 }));
    await worker.deliverDue();
    const rotated = await graphql<{ rotateWebhookSecret: { secret: string; subscription: { previousSecretExpiresAt: string } } }>(
      hub,
      'mutation($id: ID!) { rotateWebhookSecret(id: $id, gracePeriodSeconds: 3600) { secret subscription { previousSecretExpiresAt } } }',
      { token: admin, variables: { id: subscription.id } },
    );
    const { secret, subscription: after } = rotated.data!.rotateWebhookSecret;
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(secrets.current);
    expect(after.previousSecretExpiresAt).toBe(new Date(clock.now().getTime() + 3_600_000).toISOString());
    secrets.old = secrets.current!;
    secrets.current = secret;
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await worker.deliverDue();
    clock.advance(3_601);
    await registerAgent(hub, await adminToken(hub), { allowedScopes: ['orders:read'] });
    await worker.deliverDue();
    expect(receiver.requests.map((r) => [r.signatures.length, r.verifiedBy])).toEqual([
      [1, ['current']],
      [2, ['current', 'old']],
      [1, ['current']],
    ]);
    const read = await graphql<any>(hub, 'query($id: ID!) { webhookSubscription(id: $id) { previousSecretExpiresAt } }', { token: await adminToken(hub), variables: { id: subscription.id } });
    expect(read.data.webhookSubscription).toEqual({ previousSecretExpiresAt: null });
  });

  it('ends the secret before the old one at once when rotated again within the grace period: at most two sign', async () => {
    const { admin, receiver, subscription, secrets } = await setUp(() => ({ status: 200 }));
    await worker.deliverDue();
    const rotate = async () =>
      (await graphql<{ rotateWebhookSecret: { secret: string } }>(hub, 'mutation($id: ID!) { rotateWebhookSecret(id: $id, gracePeriodSeconds: 3600) { secret } }', {
        token: admin,
        variables: { id: subscription.id },
      })).data!.rotateWebhookSecret.secret;
    secrets.first = secrets.current!;
    secrets.second = await rotate();
    secrets.current = await rotate();
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await worker.deliverDue();
    expect(receiver.requests.map((r) => [r.signatures.length, r.verifiedBy])).toEqual([
      [1, ['current']],
      [2, ['current', 'second']],
    ]);
  });
});
