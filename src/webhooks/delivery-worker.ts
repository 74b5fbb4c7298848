import { randomUUID } from 'node:crypto';
import type { Db } from '../db/connect.js';
import type { Listen } from '../db/notifications.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { attemptDelivery } from './delivery-attempt.js';
import { claimDueDeliveries, logAttempts, type ClaimedDelivery } from './delivery.queries.js';
import type { AddressPolicy } from './address-policy.js';
import { createWebhookSender } from './webhook-sender.js';
import { WEBHOOK_CHANNEL } from './webhook-outbox.js';
import type { Resolve } from './url-guard.js';

export interface DeliveryWorkerOptions {
  readonly db: Db;
  /** The worker's "now": when deliveries are due, leases lapse and attempts are stamped. */
  readonly clock: Clock;
  readonly kek: Buffer;
  readonly logger: Logger;
  readonly policy: AddressPolicy;
  /** How hosts are resolved: the webhook service's one limited resolver. */
  readonly resolve: Resolve;
  /** Seconds to connect, and again to answer. */
  readonly timeoutSeconds: number;
  readonly pollIntervalSeconds: number;
  /** LISTEN for committed events; without it the worker only polls. */
  readonly listen?: Listen;
  /** Attempts in flight at most; 10 by default. */
  readonly concurrency?: number;
  /** A number in [0, 1) for the retry jitter; Math.random by default. */
  readonly random?: () => number;
}

export interface DeliveryWorker {
  /**
   * Claims and attempts every delivery due now, keeping up to `concurrency` attempts in flight and
   * claiming more as each ends; resolves to the attempts made, once all of them have ended.
   */
  deliverDue(): Promise<number>;
  /**
   * Seconds a claim holds a delivery: past it, and past the clock skew allowed between instances
   * (CLOCK_SKEW_MS), another worker may take the delivery over.
   */
  readonly leaseSeconds: number;
  /** Runs in the background: woken by NOTIFY, and by a poll as the fallback. */
  start(): void;
  /** Stops waking and claiming, lets the attempts in flight finish (bounded by the timeouts), closes connections. */
  stop(): Promise<void>;
}

/** Attempts one run starts at most before it yields to the next wake-up. */
const MAX_ATTEMPTS_PER_RUN = 1_000;
/**
 * Attempts of one subscription a worker has in flight at most: a receiver that hangs holds no
 * more slots than these, and the other subscriptions' deliveries go out beside it.
 */
export const MAX_IN_FLIGHT_PER_SUBSCRIPTION = 2;

/**
 * The delivery worker of one hub instance. Several may run on one database (on several
 * instances): each claims with SKIP LOCKED and a lease, so each delivery is attempted by one
 * worker at a time, and one that stopped mid-delivery is taken over once its lease lapses.
 */
export function createDeliveryWorker(options: DeliveryWorkerOptions): DeliveryWorker {
  const { db, clock, logger } = options;
  const concurrency = options.concurrency ?? 10;
  // Covers the longest send (3 × the timeout, see the sender) and recording its outcome.
  const leaseSeconds = 3 * options.timeoutSeconds + 30;
  const sender = createWebhookSender({ policy: options.policy, resolve: options.resolve, timeoutSeconds: options.timeoutSeconds });
  const deps = { db, clock, kek: options.kek, sender, random: options.random ?? Math.random };
  let stopped = false;
  /** Runs waiting on their attempts in flight, each woken to claim again when an event commits (see `wake`). */
  const waiting = new Set<() => void>();

  async function deliverDue(): Promise<number> {
    const inFlight = new Set<Promise<void>>();
    const bySubscription = new Map<string, number>();
    let ended = 0;
    const track = (delivery: ClaimedDelivery, token: string) => {
      const id = delivery.subscriptionId;
      bySubscription.set(id, (bySubscription.get(id) ?? 0) + 1);
      const attempt: Promise<void> = attemptDelivery(deps, delivery, token)
        .then((disabled) => {
          if (disabled) logger.warn({ subscriptionId: id, reason: disabled }, 'webhook subscription disabled: it gets no events until an operator enables it again');
        })
        .catch((error: unknown) => logger.warn({ err: error }, 'recording a webhook attempt failed; its lease will lapse'))
        .finally(() => {
          ended++;
          inFlight.delete(attempt);
          const left = bySubscription.get(id)! - 1;
          if (left === 0) bySubscription.delete(id);
          else bySubscription.set(id, left);
        });
      inFlight.add(attempt);
    };
    let attempts = 0;
    try {
      // A pool, not batches: each attempt that ends frees a slot for the next claim, so a receiver
      // that hangs holds up its own slots, never the other receivers' deliveries.
      for (;;) {
        const room = Math.min(concurrency - inFlight.size, MAX_ATTEMPTS_PER_RUN - attempts);
        const endedBefore = ended;
        if (room > 0 && !stopped) {
          const now = clock.now();
          const token = randomUUID();
          const leaseUntil = new Date(now.getTime() + leaseSeconds * 1_000);
          const claimed = await claimDueDeliveries(db, { now, leaseUntil, token, limit: room, perSubscription: MAX_IN_FLIGHT_PER_SUBSCRIPTION, inFlight: bySubscription });
          await logAbandoned(claimed, now);
          for (const delivery of claimed) track(delivery, token);
          attempts += claimed.length;
        }
        if (inFlight.size === 0) {
          // Done, unless attempts ended while the claim ran: it skipped their subscriptions as
          // full, and what they left due is claimed on the next turn.
          if (ended === endedBefore || stopped) break;
          continue;
        }
        // Woken as well by a commit or a poll, so that what became due meanwhile is claimed into
        // the free slots now, not once an attempt in flight (a hung receiver's) has ended.
        let woken!: () => void;
        const nudged = new Promise<void>((resolve) => waiting.add((woken = resolve)));
        await Promise.race([...inFlight, nudged]);
        waiting.delete(woken);
      }
    } finally {
      await Promise.all(inFlight);
    }
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

  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;

  /** When the first of the runs failing since the last that worked failed, by `performance.now()`. */
  let failingSince: number | undefined;

  /**
   * One run, its failure logged: once at warn, then at debug while the runs go on failing (a run
   * each poll, through a database outage), and once at info when one works again.
   */
  async function run(): Promise<void> {
    try {
      await deliverDue();
      if (failingSince !== undefined) logger.info(`webhook delivery runs work again, after failing for ${Math.round((performance.now() - failingSince) / 1_000)} s`);
      failingSince = undefined;
    } catch (error) {
      if (failingSince !== undefined) return logger.debug({ err: error }, 'webhook delivery run failed');
      failingSince = performance.now();
      logger.warn({ err: error }, 'webhook delivery run failed; retrying at each poll (logged at debug until a run works)');
    }
  }

  const wake = () => {
    if (stopped) return;
    if (running) {
      again = true;
      for (const nudge of waiting) nudge();
      return;
    }
    running = (async () => {
      do {
        again = false;
        await run();
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
