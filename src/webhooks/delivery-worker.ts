import { randomUUID } from 'node:crypto';
import type { Db } from '../db/connect.js';
import type { Listen } from '../db/notifications.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { attemptDelivery } from './delivery-attempt.js';
import { claimDueDeliveries, deleteMessagesBefore, logAttempts, type ClaimedDelivery } from './delivery.queries.js';
import type { AddressPolicy } from './address-policy.js';
import { createWebhookSender } from './webhook-sender.js';
import { WEBHOOK_CHANNEL } from './webhook-outbox.js';
import { systemResolve, type Resolve } from './url-guard.js';

export interface DeliveryWorkerOptions {
  readonly db: Db;
  /** The worker's "now": when deliveries are due, leases lapse and attempts are stamped. */
  readonly clock: Clock;
  readonly kek: Buffer;
  readonly logger: Logger;
  readonly policy: AddressPolicy;
  readonly resolve?: Resolve;
  /** Seconds to connect, and again to answer. */
  readonly timeoutSeconds: number;
  readonly pollIntervalSeconds: number;
  /** LISTEN for committed events; without it the worker only polls. */
  readonly listen?: Listen;
  readonly batchSize?: number;
  /** A number in [0, 1) for the retry jitter; Math.random by default. */
  readonly random?: () => number;
}

export interface DeliveryWorker {
  /** Claims and attempts every delivery due now, batch after batch; resolves to the attempts made. */
  deliverDue(): Promise<number>;
  /** Seconds a claim holds a delivery: past it, another worker may take the delivery over. */
  readonly leaseSeconds: number;
  /** Runs in the background: woken by NOTIFY, and by a poll as the fallback. */
  start(): void;
  /** Stops waking, lets the attempts in flight finish (bounded by the timeouts), closes connections. */
  stop(): Promise<void>;
}

/** Messages are kept this long (unless a delivery of theirs is still pending), then deleted with their log. */
export const RETENTION_DAYS = 30;
const CLEANUP_EVERY_MS = 3_600_000;
/** Batches one run claims at most before it yields to the next wake-up. */
const MAX_BATCHES_PER_RUN = 100;

/**
 * The delivery worker of one hub instance. Several may run on one database (on several
 * instances): each claims with SKIP LOCKED and a lease, so each delivery is attempted by one
 * worker at a time, and one that stopped mid-delivery is taken over once its lease lapses.
 */
export function createDeliveryWorker(options: DeliveryWorkerOptions): DeliveryWorker {
  const { db, clock, logger } = options;
  const batchSize = options.batchSize ?? 10;
  // Covers the longest send (3 × the timeout, see the sender) and recording its outcome.
  const leaseSeconds = 3 * options.timeoutSeconds + 30;
  const sender = createWebhookSender({ policy: options.policy, resolve: options.resolve ?? systemResolve, timeoutSeconds: options.timeoutSeconds });
  const deps = { db, clock, kek: options.kek, sender, random: options.random ?? Math.random };
  let lastCleanup = 0;

  async function deliverDue(): Promise<number> {
    let attempts = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const now = clock.now();
      const token = randomUUID();
      const claimed = await claimDueDeliveries(db, { now, leaseUntil: new Date(now.getTime() + leaseSeconds * 1_000), token, limit: batchSize });
      if (claimed.length === 0) break;
      await logAbandoned(claimed, now);
      const results = await Promise.allSettled(claimed.map((delivery) => attemptDelivery(deps, delivery, token)));
      for (const result of results) if (result.status === 'rejected') logger.warn({ err: result.reason }, 'recording a webhook attempt failed; its lease will lapse');
      attempts += claimed.length;
    }
    await cleanUp();
    return attempts;
  }

  /** The attempts whose worker stopped before recording them, logged by the worker taking over. */
  async function logAbandoned(claimed: readonly ClaimedDelivery[], now: Date): Promise<void> {
    const lapsed = claimed.filter((c) => c.lapsedLeaseUntil !== null && c.attempt > 1);
    await logAttempts(
      db,
      lapsed.map((c) => ({
        subscriptionId: c.subscriptionId,
        messageId: c.messageId,
        attempt: c.attempt - 1,
        trigger: c.trigger,
        attemptedAt: new Date(c.lapsedLeaseUntil!.getTime() - leaseSeconds * 1_000),
        statusCode: null,
        error: 'no outcome: the worker stopped before recording one, and its lease lapsed',
        durationMs: 0,
        nextAttemptAt: now,
      })),
    );
  }

  async function cleanUp(): Promise<void> {
    const now = clock.now();
    if (now.getTime() - lastCleanup < CLEANUP_EVERY_MS) return;
    lastCleanup = now.getTime();
    await deleteMessagesBefore(db, new Date(now.getTime() - RETENTION_DAYS * 86_400_000));
  }

  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;

  const wake = () => {
    if (stopped) return;
    if (running) return void (again = true);
    running = (async () => {
      do {
        again = false;
        await deliverDue().catch((error: unknown) => logger.warn({ err: error }, 'webhook delivery run failed; retrying at the next poll'));
      } while (again && !stopped);
    })().finally(() => (running = undefined));
  };

  return {
    deliverDue,
    leaseSeconds,
    start() {
      if (stopped || timer) return;
      timer = setInterval(wake, options.pollIntervalSeconds * 1_000);
      timer.unref();
      unlisten = options.listen?.(WEBHOOK_CHANNEL, { onMessage: wake, onState: (listening) => listening && wake() });
      wake();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await unlisten?.();
      await running;
      await sender.close();
    },
  };
}
