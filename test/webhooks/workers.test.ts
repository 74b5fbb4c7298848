import { RawNode, sql, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { CLOCK_SKEW_MS, fixedClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { createAddressPolicy } from '../../src/webhooks/address-policy.js';
import { MAX_IN_FLIGHT_PER_SUBSCRIPTION } from '../../src/webhooks/delivery-worker.js';
import type { Resolve } from '../../src/webhooks/url-guard.js';
import { enqueueWebhookEvent } from '../../src/webhooks/webhook-outbox.js';
import { createWebhookService } from '../../src/webhooks/webhook.service.js';
import { testServerUrl, type TestDatabase } from '../helpers/database.js';
import { graphql } from '../helpers/hub.js';
import { lockHolder, unlessWaiting } from '../helpers/locks.js';
import { registerAgent } from '../helpers/oauth.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, deliveryLog, startWebhookHub, subscribe, type TestClock } from './webhook-hub.js';

/** The claim statement of a delivery worker, by its text. */
const CLAIM = 'with busy as';

/**
 * A Kysely plugin that holds back the result of the `nth` statement whose SQL contains `marker`
 * (after it ran) until `release` is called; `reached` settles once that statement has run.
 */
function holdResultOf(marker: string, nth: number) {
  const held = new Set<unknown>();
  let seen = 0;
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
      if (RawNode.is(node) && node.sqlFragments.join('').includes(marker) && ++seen === nth) held.add(queryId);
      return node;
    },
    async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      if (!held.has(queryId)) return result;
      reach();
      await released;
      return result;
    },
  };
  return { plugin, reached, release };
}

describe('delivery workers', () => {
  let hub: Hub;
  let clock: TestClock;
  let database: TestDatabase;
  let admin: string;
  const receivers: Receiver[] = [];
  const handles: DatabaseHandle[] = [];
  beforeAll(async () => {
    ({ hub, clock, database } = await startWebhookHub());
    admin = await adminToken(hub);
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await Promise.all(handles.map((h) => h.close()));
    await hub.close();
  });

  /** A receiver subscribed alone to agent.registered; earlier subscriptions are deleted with their deliveries. */
  async function receiverFor(answer?: Parameters<typeof startReceiver>[0]['answer'], url?: (port: number) => string) {
    await sql`delete from webhook_subscriptions`.execute(hub.services.db);
    const secrets: Record<string, string> = {};
    const receiver = await startReceiver({ secrets: () => secrets, at: () => clock.now(), ...(answer && { answer }) });
    receivers.push(receiver);
    const subscription = await subscribe(hub, admin, url?.(receiver.port) ?? receiver.url, ['agent.registered']);
    secrets.current = subscription.secret;
    return { receiver, subscription };
  }
  const registerAgents = (count: number) => Promise.all(Array.from({ length: count }, () => registerAgent(hub, admin, { allowedScopes: ['orders:read'] })));
  const { holding } = lockHolder(() => hub.services.db);

  it('deliver each event once when two of them work through the same deliveries at the same time', async () => {
    const { receiver } = await receiverFor();
    await registerAgents(15);
    let other = hub.services.db;
    if (database.url) {
      const handle = openDatabase({ url: database.url });
      handles.push(handle);
      other = handle.db;
    }
    const one = hub.services.webhooks.createWorker({ concurrency: 2 });
    const two = hub.services.webhooks.createWorker({ concurrency: 2, db: other });
    const [a, b] = await Promise.all([one.deliverDue(), two.deliverDue()]);
    await Promise.all([one.stop(), two.stop()]);
    expect(a + b).toBe(15);
    expect(receiver.requests).toHaveLength(15);
    expect(new Set(receiver.accepted).size).toBe(15);
    expect(receiver.requests.every((r) => r.verifiedBy.includes('current'))).toBe(true);
  });

  it('deliver to a healthy receiver promptly while another one hangs, attempting no more of the hung one’s deliveries than the cap', async () => {
    await sql`delete from webhook_subscriptions`.execute(hub.services.db);
    let hanging = true;
    const hung = await startReceiver({ secrets: () => ({}), answer: () => (hanging ? 'hold' : { status: 200 }), at: () => clock.now() });
    const healthy = await startReceiver({ secrets: () => ({}), at: () => clock.now() });
    receivers.push(hung, healthy);
    await subscribe(hub, admin, hung.url, ['agent.suspended']);
    await subscribe(hub, admin, healthy.url, ['consent.withdrawn']);
    // Ten events for the hung receiver, then, a second later, ten for the healthy one.
    const suspended = Array.from({ length: 10 }, (_, i) => ({ type: 'agent.suspended' as const, data: { agentId: `agt_${i}`, ownerUserId: null } }));
    await enqueueWebhookEvent(hub.services.db, suspended, clock.now());
    clock.advance(1);
    const withdrawn = Array.from({ length: 10 }, (_, i) => ({ type: 'consent.withdrawn' as const, data: { consentId: `cns_${i}`, userId: 'usr_x', purpose: 'support', agentId: null } }));
    await enqueueWebhookEvent(hub.services.db, withdrawn, clock.now());

    // Attempts that wait far longer than the healthy receiver's ten deliveries take, however slow
    // this run: what is pinned is that those ten do not wait for the hung attempts to end.
    const timeoutSeconds = 60;
    const worker = hub.services.webhooks.createWorker({ timeoutSeconds });
    const run = worker.deliverDue();
    try {
      await expect.poll(() => healthy.accepted.length, { timeout: (timeoutSeconds - 15) * 1_000, interval: 50 }).toBe(10);
      // At most 2 of one subscription's attempts are in flight, as documented.
      expect(hung.requests).toHaveLength(2);
    } finally {
      hanging = false;
      hung.release(200);
      await run;
      await worker.stop();
    }
    expect(new Set(hung.accepted).size).toBe(10);
  }, 120_000);

  // Holding a statement's result holds its connection: PGlite has only one.
  it.skipIf(testServerUrl() === undefined)('claim again what a full subscription left due when its attempts end during a claim that skipped it', async () => {
    await sql`delete from webhook_subscriptions`.execute(hub.services.db);
    let holding = true;
    const busy = await startReceiver({ secrets: () => ({}), answer: () => (holding ? 'hold' : { status: 200 }), at: () => clock.now() });
    const quick = await startReceiver({ secrets: () => ({}), at: () => clock.now() });
    receivers.push(busy, quick);
    const full = await subscribe(hub, admin, busy.url, ['agent.suspended']);
    await subscribe(hub, admin, quick.url, ['consent.withdrawn']);
    const suspended = Array.from({ length: 4 }, (_, i) => ({ type: 'agent.suspended' as const, data: { agentId: `agt_${i}`, ownerUserId: null } }));
    await enqueueWebhookEvent(hub.services.db, [...suspended, { type: 'consent.withdrawn', data: { consentId: 'cns_0', userId: 'usr_x', purpose: 'support', agentId: null } }], clock.now());

    // The second claim, made when the quick receiver's attempt ends while the busy one holds its
    // subscription's two slots, answers only once both of those attempts have ended.
    const second = holdResultOf(CLAIM, 2);
    const worker = hub.services.webhooks.createWorker({ db: hub.services.db.withPlugin(second.plugin) });
    const run = worker.deliverDue();
    try {
      await second.reached;
      expect(quick.accepted).toHaveLength(1);
      await expect.poll(() => busy.requests.length).toBe(MAX_IN_FLIGHT_PER_SUBSCRIPTION);
      holding = false;
      busy.release(200);
      await expect.poll(async () => (await deliveryLog(hub, admin, full.id)).filter((d) => d.status === 'SUCCEEDED').length).toBe(2);
    } finally {
      second.release();
    }
    expect(await run).toBe(5);
    await worker.stop();
    expect(new Set(busy.accepted).size).toBe(4);
  });

  // A row lock held past a statement needs a second connection: PGlite has only one.
  it.skipIf(testServerUrl() === undefined)('claim past a due delivery another transaction holds, without waiting for it, and claim it once let go', async () => {
    const { receiver, subscription } = await receiverFor();
    await registerAgents(2);
    const due = await sql<{ message_id: string }>`select message_id from webhook_deliveries where subscription_id = ${subscription.id} order by next_attempt_at, message_id`.execute(hub.services.db);
    const [first, second] = due.rows.map((row) => row.message_id);
    // The first the claim would take, held as a transaction updating it holds it.
    const held = await holding((tx) => sql`select 1 from webhook_deliveries where subscription_id = ${subscription.id} and message_id = ${first} for no key update`.execute(tx));

    const worker = hub.services.webhooks.createWorker();
    try {
      expect(await unlessWaiting(worker.deliverDue(), 'waited on the held delivery')).toBe(1);
      expect(receiver.accepted).toEqual([second]);
      expect((await deliveryLog(hub, admin, subscription.id)).find((d) => d.messageId === first)).toMatchObject({ status: 'PENDING', attemptCount: 0 });

      // Left due, not lost: claimed once its holder lets go.
      await held.release();
      expect(await worker.deliverDue()).toBe(1);
      expect(receiver.accepted).toEqual([second, first]);
    } finally {
      // Let go first: a claim still waiting on the row would keep the worker from stopping.
      await held.release();
      await worker.stop();
    }
  });

  it('take over a delivery whose worker stopped mid-delivery once its lease lapses, and not before', async () => {
    const { receiver, subscription } = await receiverFor((index) => (index === 0 ? 'hold' : { status: 200 }));
    const stalled = hub.services.webhooks.createWorker();
    const successor = hub.services.webhooks.createWorker();
    await registerAgents(1);
    const abandoned = stalled.deliverDue();
    await expect.poll(() => receiver.requests.length).toBe(1);

    // The lease outlasts the longest attempt (3 × the timeout) by 30 s, for recording its outcome,
    // and lapses for another worker once it has on every instance's clock.
    clock.advance(3 * hub.config.webhookTimeout + 29 + CLOCK_SKEW_MS / 1_000);
    expect(await successor.deliverDue()).toBe(0);
    clock.advance(2);
    expect(await successor.deliverDue()).toBe(1);
    const [delivery] = await deliveryLog(hub, await adminToken(hub), subscription.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2 });
    expect(delivery!.attempts.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, null, 'no outcome: the worker stopped before recording one, and its lease lapsed'],
      [2, 200, null],
    ]);
    expect(receiver.requests.map((r) => r.id)).toEqual([delivery!.messageId, delivery!.messageId]);

    // The stalled attempt ends late: its outcome changes nothing, the lease being gone, not even
    // a 410 Gone, which would otherwise disable the subscription.
    receiver.release(410);
    await abandoned;
    const [after] = await deliveryLog(hub, await adminToken(hub), subscription.id);
    expect(after).toEqual(delivery);
    const state = await graphql<any>(hub, 'query($id: ID!) { webhookSubscription(id: $id) { status disabledReason } }', { token: await adminToken(hub), variables: { id: subscription.id } });
    expect(state.data.webhookSubscription).toEqual({ status: 'ENABLED', disabledReason: null });
    await Promise.all([stalled.stop(), successor.stop()]);
  });

  it('check the address again at delivery: a target no longer allowed is not contacted', async () => {
    const { receiver, subscription } = await receiverFor(undefined, (port) => `http://localhost:${port}/hooks`);
    await registerAgents(1);
    const strict = hub.services.webhooks.createWorker({ policy: createAddressPolicy([]) });
    expect(await strict.deliverDue()).toBe(1);
    await strict.stop();
    const [delivery] = await deliveryLog(hub, admin, subscription.id);
    expect(delivery).toMatchObject({ status: 'PENDING', lastStatusCode: null });
    expect(delivery!.lastError).toBe('localhost resolves to an address that is not public');
    expect(receiver.requests).toEqual([]);
  });

  it('connect to the address they checked, so a name that rebinds to a private address is refused', async () => {
    await sql`delete from webhook_subscriptions`.execute(hub.services.db);
    const answers: Record<string, string> = { 'hooks.example': '127.0.0.1' };
    const resolve: Resolve = async (host) => (answers[host] ? [{ address: answers[host], family: 4 }] : []);
    const service = createWebhookService({ db: hub.services.db, clock, kek: resolveKeyEncryptionKey(hub.config), logger: createLogger(hub.config), config: hub.config, resolve });
    const secrets: Record<string, string> = {};
    const receiver = await startReceiver({ secrets: () => secrets, at: () => clock.now() });
    receivers.push(receiver);
    const created = await service.create({ url: `http://hooks.example:${receiver.port}/hooks`, eventTypes: ['agent.registered'] }, { principal: ANONYMOUS, requestId: null });
    secrets.current = created.secret;
    const worker = service.createWorker({ policy: createAddressPolicy(['127.0.0.0/8']) });
    await registerAgents(1);
    expect(await worker.deliverDue()).toBe(1);
    expect(receiver.requests.map((r) => [r.headers.host, r.verifiedBy])).toEqual([[`hooks.example:${receiver.port}`, ['current']]]);

    answers['hooks.example'] = '10.0.0.1';
    await registerAgents(1);
    expect(await worker.deliverDue()).toBe(1);
    await worker.stop();
    expect(receiver.requests).toHaveLength(1);
    const [latest] = await deliveryLog(hub, admin, created.subscription.id);
    expect(latest).toMatchObject({ status: 'PENDING', lastError: 'hooks.example resolves to an address that is not public' });
  });
});

describe('the hub’s own delivery worker', () => {
  it('is woken by the commit of an event, without waiting for its poll', async () => {
    const { hub, clock } = await startWebhookHub({ HUB_WEBHOOK_WORKER: 'true', HUB_WEBHOOK_POLL_INTERVAL: '3600' }, fixedClock(new Date()));
    const admin = await adminToken(hub);
    const secrets: Record<string, string> = {};
    const receiver = await startReceiver({ secrets: () => secrets, at: () => clock.now() });
    try {
      secrets.current = (await subscribe(hub, admin, receiver.url, ['agent.registered'])).secret;
      const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
      await expect.poll(() => receiver.accepted.length, { timeout: 10_000 }).toBe(1);
      expect(receiver.requests[0]!.payload.data.agentId).toBe(agent.id);
      expect(receiver.requests[0]!.verifiedBy).toEqual(['current']);
    } finally {
      await receiver.close();
      await hub.close();
    }
  });

  it('is woken by an operator enabling a subscription again, and sends what waited meanwhile without waiting for its poll', async () => {
    const { hub, clock } = await startWebhookHub({ HUB_WEBHOOK_WORKER: 'true', HUB_WEBHOOK_POLL_INTERVAL: '3600' }, fixedClock(new Date()));
    const admin = await adminToken(hub);
    const receiver = await startReceiver({ secrets: () => ({}), answer: (index) => ({ status: index === 0 ? 500 : 200 }), at: () => clock.now() });
    try {
      const { id } = await subscribe(hub, admin, receiver.url, ['agent.registered']);
      await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
      await expect.poll(async () => (await deliveryLog(hub, admin, id))[0]?.lastStatusCode, { timeout: 10_000 }).toBe(500);
      const setEnabled = (mutation: string) => graphql(hub, `mutation($id: ID!) { ${mutation}(id: $id) { status } }`, { token: admin, variables: { id } });
      expect((await setEnabled('disableWebhookSubscription')).errors).toBeUndefined();
      // The retry falls due while the subscription is disabled.
      clock.advance(60);
      expect((await setEnabled('enableWebhookSubscription')).errors).toBeUndefined();
      await expect.poll(() => receiver.accepted.length, { timeout: 10_000 }).toBe(1);
    } finally {
      await receiver.close();
      await hub.close();
    }
  });

  it('is woken by an operator’s redelivery, and sends the message again without waiting for its poll', async () => {
    const { hub, clock } = await startWebhookHub({ HUB_WEBHOOK_WORKER: 'true', HUB_WEBHOOK_POLL_INTERVAL: '3600' }, fixedClock(new Date()));
    const admin = await adminToken(hub);
    const receiver = await startReceiver({ secrets: () => ({}), at: () => clock.now() });
    try {
      const { id } = await subscribe(hub, admin, receiver.url, ['agent.registered']);
      await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
      await expect.poll(() => receiver.accepted.length, { timeout: 10_000 }).toBe(1);
      const redelivered = await graphql(hub, 'mutation($s: ID!, $m: ID!) { redeliverWebhookMessage(subscriptionId: $s, messageId: $m) { status } }', {
        token: admin,
        variables: { s: id, m: receiver.accepted[0] },
      });
      expect(redelivered.errors).toBeUndefined();
      await expect.poll(() => receiver.accepted.length, { timeout: 10_000 }).toBe(2);
      expect(receiver.accepted[1]).toBe(receiver.accepted[0]);
    } finally {
      await receiver.close();
      await hub.close();
    }
  });
});
