import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { CLOCK_SKEW_MS, fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV } from '../helpers/hub.js';
import { freePort } from '../helpers/net.js';
import { registerAgent } from '../helpers/oauth.js';
import { hubArgs } from '../helpers/run-node.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, deliveryLog, LOOPBACK, subscribe } from './webhook-hub.js';

/**
 * Hub instances on one PostgreSQL database, as behind a load balancer, each with its own delivery
 * worker. PGlite is one process's database, so this runs on the server only.
 */
describe.skipIf(testServerUrl() === undefined)('webhooks across hub instances', () => {
  let database: TestDatabase;
  let one: Hub;
  let two: Hub;
  let admin: string;
  const receivers: Receiver[] = [];
  const env = { ...TEST_ENV, HUB_WEBHOOK_ALLOWED_NETWORKS: LOOPBACK, HUB_WEBHOOK_POLL_INTERVAL: '1' };
  beforeAll(async () => {
    database = await createTestDatabase();
    one = await createHub(loadConfig(env), { database });
    two = await createHub(loadConfig(env), { database: openDatabase({ url: database.url! }) });
    admin = await adminToken(one);
  });
  afterAll(async () => {
    await two.close();
    await one.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  async function receiverFor() {
    const secrets: Record<string, string> = {};
    const receiver = await startReceiver({ secrets: () => secrets });
    receivers.push(receiver);
    const subscription = await subscribe(one, admin, receiver.url, ['agent.registered']);
    secrets.current = subscription.secret;
    return { receiver, subscription };
  }

  it('deliver each event once between two instances, whichever instance the change went through', async () => {
    const { receiver, subscription } = await receiverFor();
    await Promise.all(Array.from({ length: 20 }, (_, i) => registerAgent(i % 2 ? two : one, admin, { allowedScopes: ['orders:read'] })));
    await expect.poll(() => receiver.accepted.length, { timeout: 20_000 }).toBe(20);
    await expect.poll(async () => (await deliveryLog(one, admin, subscription.id)).every((d) => d.status === 'SUCCEEDED'), { timeout: 10_000 }).toBe(true);
    const log = await deliveryLog(two, admin, subscription.id);
    expect(log).toHaveLength(20);
    expect(log.every((d) => d.attemptCount === 1 && d.attempts.length === 1)).toBe(true);
    expect(new Set(receiver.requests.map((r) => r.id)).size).toBe(20);
    expect(receiver.requests).toHaveLength(20);
    expect(receiver.requests.every((r) => r.verifiedBy.includes('current'))).toBe(true);
  });
});

describe.skipIf(testServerUrl() === undefined)('a hub process killed in the middle of a delivery', () => {
  let database: TestDatabase;
  let hub: Hub;
  let receiver: Receiver | undefined;
  const env = { ...TEST_ENV, HUB_WEBHOOK_ALLOWED_NETWORKS: LOOPBACK, HUB_WEBHOOK_POLL_INTERVAL: '1' };
  beforeAll(async () => {
    database = await createTestDatabase();
    // No worker here: the child process is the only one until it is killed.
    hub = await createHub(loadConfig({ ...env, HUB_WEBHOOK_WORKER: 'false' }), { database });
  });
  afterAll(async () => {
    await hub.close();
    await receiver?.close();
  });

  it('loses nothing: once its lease lapses, another worker delivers the event', async () => {
    const admin = await adminToken(hub);
    const clock = fixedClock(new Date());
    const secrets: Record<string, string> = {};
    receiver = await startReceiver({ secrets: () => secrets, answer: (index) => (index === 0 ? 'hold' : { status: 200 }), at: () => clock.now() });
    const subscription = await subscribe(hub, admin, receiver.url, ['agent.registered']);
    secrets.current = subscription.secret;
    const child = await startHubProcess(database.url!, env);
    try {
      await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
      await expect.poll(() => receiver!.requests.length, { timeout: 20_000 }).toBe(1);
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    }
    const successor = hub.services.webhooks.createWorker({ clock });
    try {
      clock.set(new Date(Date.now() + 1_000));
      expect(await successor.deliverDue()).toBe(0);
      clock.set(new Date(Date.now() + (successor.leaseSeconds + 5) * 1_000 + CLOCK_SKEW_MS));
      expect(await successor.deliverDue()).toBe(1);
    } finally {
      await successor.stop();
    }
    const [delivery] = await deliveryLog(hub, await adminToken(hub), subscription.id);
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 2 });
    expect(delivery!.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([[1, null], [2, 200]]);
    expect(receiver.requests.map((r) => r.id)).toEqual([delivery!.messageId, delivery!.messageId]);
    expect(receiver.accepted).toEqual([delivery!.messageId]);
    expect(receiver.requests.every((r) => r.verifiedBy.includes('current'))).toBe(true);
  }, 120_000);
});

/** `hub serve` in its own process on the test database, delivering webhooks; resolves once it is ready. */
async function startHubProcess(url: string, env: Record<string, string>): Promise<ChildProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, hubArgs('serve'), {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), DATABASE_URL: url },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the hub exited with ${child.exitCode}`);
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('the hub did not become ready within 60 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
