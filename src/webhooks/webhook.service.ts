import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import type { Db } from '../db/connect.js';
import type { Caller } from '../identity/identity.service.js';
import type { Clock } from '../shared/clock.js';
import type { Retention } from '../shared/housekeeping.js';
import { BadUserInputError, NotFoundError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { parseInput } from '../shared/input.js';
import type { Logger } from '../shared/logger.js';
import type { AuditAction } from '../audit/audit.actions.js';
import { createAddressPolicy } from './address-policy.js';
import { findAttemptsOfDeliveries, findDeliveriesOfSubscriptions, findDelivery, type WebhookDelivery } from './delivery-log.queries.js';
import { countPendingDeliveries, deleteMessagesBefore, endDeliveriesOfOtherTypes, restartDelivery } from './delivery.queries.js';
import { isAboutErasedUser } from './erased-person.queries.js';
import { createDeliveryWorker, type DeliveryWorker, type DeliveryWorkerOptions } from './delivery-worker.js';
import {
  countSubscriptions,
  deleteSubscription,
  findSealedSecret,
  findSubscriptionForUpdate,
  findSubscriptionsByIds,
  insertSubscription,
  listSubscriptions,
  lockSubscriptionSet,
  updateSubscription,
  type SubscriptionChanges,
  type WebhookSubscription,
} from './subscription.queries.js';
import { checkTarget, RefusedAddressError, systemResolve, type Resolve } from './url-guard.js';
import { generateWebhookSecret, sealWebhookSecret } from './webhook-secret.js';
import { createSubscriptionSchema, gracePeriodSchema, MAX_SUBSCRIPTIONS, updateSubscriptionSchema } from './webhook.input.js';
import { notifyWorkers } from './webhook-outbox.js';

export type { WebhookSubscription } from './subscription.queries.js';
export type { WebhookAttempt, WebhookDelivery } from './delivery-log.queries.js';

/** A subscription with a secret just made: the only moment the secret is shown. */
export interface SubscriptionWithSecret {
  readonly subscription: WebhookSubscription;
  readonly secret: string;
}

export type WebhookService = ReturnType<typeof createWebhookService>;

/** Messages are kept this long (unless a delivery of theirs is still pending), then deleted with their log. */
const MESSAGE_RETENTION_MS = 30 * 86_400_000;

/**
 * Messages past their retention, with their deliveries and log, for the hub's housekeeping: they
 * name the person they are about, and go whether or not this instance, or any, runs a delivery
 * worker (`HUB_WEBHOOK_WORKER`).
 */
export const webhookMessageRetention = (db: Db): Retention => ({
  name: 'webhook messages',
  forget: (now, limit) => deleteMessagesBefore(db, new Date(now.getTime() - MESSAGE_RETENTION_MS), limit),
});

/**
 * Webhook subscriptions and their delivery log. Every change is audited in its own transaction.
 * Who may call any of it (`webhooks:admin`) is decided in src/authz, on the GraphQL fields.
 * @param deps.kek the key-encryption key that seals the signing secrets.
 * @param deps.resolve the resolver of target host names; the system's by default.
 */
export function createWebhookService(deps: {
  db: Db;
  clock: Clock;
  kek: Buffer;
  logger: Logger;
  config: Pick<Config, 'webhookAllowedNetworks' | 'webhookTimeout' | 'webhookPollInterval' | 'threadPoolSize'>;
  resolve?: Resolve;
}) {
  const { db, clock, kek } = deps;
  // One limit for this hub's lookups, its checks and its worker's deliveries together.
  const resolve = deps.resolve ?? systemResolve(deps.config.threadPoolSize);
  const policy = createAddressPolicy(deps.config.webhookAllowedNetworks);

  /** @throws BadUserInputError for a target outside the address policy or a name that does not resolve. */
  async function checkUrl(url: string): Promise<void> {
    try {
      await checkTarget(new URL(url), policy, resolve);
    } catch (error) {
      if (error instanceof RefusedAddressError) {
        throw new BadUserInputError('input.url', `${error.message}; loopback, private, link-local and metadata addresses are refused unless HUB_WEBHOOK_ALLOWED_NETWORKS allows them`);
      }
      throw new BadUserInputError('input.url', 'names a host that does not resolve');
    }
  }

  const audit = (tx: Db, action: AuditAction, caller: Caller, subscription: WebhookSubscription, detail: Record<string, unknown> = {}) =>
    auditInTransaction(tx, { action, ...auditCaller(caller.principal, caller.requestId), decision: 'ALLOW', detail: { subscriptionId: subscription.id, ...detail } }, clock.now());

  /** Locks an existing subscription and applies a change to it. @throws NotFoundError. */
  async function change(id: string, work: (tx: Db, subscription: WebhookSubscription) => Promise<WebhookSubscription>): Promise<WebhookSubscription> {
    return db.transaction().execute(async (tx) => {
      const subscription = await findSubscriptionForUpdate(tx, id);
      if (!subscription) throw new NotFoundError('Webhook subscription');
      return work(tx, subscription);
    });
  }

  return {
    /** The deliveries waiting to be sent or retried, of every subscription (see `countPendingDeliveries`). */
    countPendingDeliveries: () => countPendingDeliveries(db),

    /**
     * A new subscription, enabled, with a new `whsec_` secret (returned here once).
     * @throws BadUserInputError for a bad field, a refused target, or past MAX_SUBSCRIPTIONS.
     */
    async create(input: unknown, caller: Caller): Promise<SubscriptionWithSecret> {
      const parsed = parseInput(createSubscriptionSchema, input);
      await checkUrl(parsed.url);
      const id = newId('whk');
      const secret = generateWebhookSecret();
      const now = clock.now();
      const subscription = await db.transaction().execute(async (tx) => {
        await lockSubscriptionSet(tx);
        if ((await countSubscriptions(tx)) >= MAX_SUBSCRIPTIONS) throw new BadUserInputError('input', `at most ${MAX_SUBSCRIPTIONS} webhook subscriptions may exist; delete one first`);
        const created = await insertSubscription(tx, { id, url: parsed.url, description: parsed.description ?? null, eventTypes: parsed.eventTypes, secretSealed: sealWebhookSecret(kek, id, secret), now });
        await audit(tx, 'webhook.created', caller, created, { host: new URL(created.url).host, eventTypes: created.eventTypes });
        return created;
      });
      return { subscription, secret };
    },

    /**
     * Changes the URL, the event types or the description; what is left out stays. Pending
     * deliveries of an event type no longer taken end as failed. @throws NotFoundError, BadUserInputError.
     */
    async update(id: string, input: unknown, caller: Caller): Promise<WebhookSubscription> {
      const parsed = parseInput(updateSubscriptionSchema, input);
      if (parsed.url !== undefined) await checkUrl(parsed.url);
      const changes: SubscriptionChanges = {
        ...(parsed.url !== undefined && { url: parsed.url }),
        ...(parsed.eventTypes !== undefined && { eventTypes: parsed.eventTypes }),
        ...(parsed.description !== undefined && { description: parsed.description }),
      };
      return change(id, async (tx) => {
        const updated = await updateSubscription(tx, id, changes, clock.now());
        const ended = changes.eventTypes ? await endDeliveriesOfOtherTypes(tx, id, changes.eventTypes) : 0;
        await audit(tx, 'webhook.updated', caller, updated, { changed: Object.keys(changes), host: new URL(updated.url).host, ...(ended > 0 && { deliveriesEnded: ended }) });
        return updated;
      });
    },

    /**
     * Enables or disables a subscription. Disabled, it gets no new events and its pending
     * deliveries wait; enabled again, they go out. Setting the state it has changes nothing.
     */
    setEnabled(id: string, enabled: boolean, caller: Caller): Promise<WebhookSubscription> {
      return change(id, async (tx, subscription) => {
        if ((subscription.status === 'enabled') === enabled) return subscription;
        const updated = await updateSubscription(tx, id, enabled ? { status: 'enabled', disabledReason: null } : { status: 'disabled', disabledReason: 'operator' }, clock.now());
        await audit(tx, 'webhook.updated', caller, updated, { status: updated.status });
        if (enabled) await notifyWorkers(tx);
        return updated;
      });
    },

    /** Deletes a subscription with its pending deliveries and its log. @throws NotFoundError. */
    async remove(id: string, caller: Caller): Promise<string> {
      await change(id, async (tx, subscription) => {
        // Audited before the delete: the delete blocks the events that deliver to this
        // subscription, and those about no user audit on the hub's chain before they reach it, so
        // both take the two locks in one order instead of deadlocking.
        await audit(tx, 'webhook.deleted', caller, subscription);
        await deleteSubscription(tx, id);
        return subscription;
      });
      return id;
    },

    /**
     * A new secret. The current one keeps signing beside it for `gracePeriodSeconds` (default a
     * day), so receivers can switch without missing a delivery; a secret older than that stops,
     * even within its own grace period: at most two sign, as for agents' secrets.
     * @throws NotFoundError, BadUserInputError for a bad grace period.
     */
    async rotateSecret(id: string, gracePeriodSeconds: number | null | undefined, caller: Caller): Promise<SubscriptionWithSecret> {
      const grace = gracePeriodSchema.safeParse(gracePeriodSeconds);
      if (!grace.success) throw new BadUserInputError('gracePeriodSeconds', grace.error.issues[0]!.message);
      const secret = generateWebhookSecret();
      const subscription = await change(id, async (tx) => {
        const now = clock.now();
        const current = (await findSealedSecret(tx, id))!;
        const updated = await updateSubscription(
          tx,
          id,
          {
            secretSealed: sealWebhookSecret(kek, id, secret),
            previousSecretSealed: grace.data > 0 ? Buffer.from(current) : null,
            previousSecretExpiresAt: grace.data > 0 ? new Date(now.getTime() + grace.data * 1_000) : null,
          },
          now,
        );
        await audit(tx, 'webhook.secret_rotated', caller, updated, { gracePeriodSeconds: grace.data });
        return updated;
      });
      return { subscription, secret };
    },

    /**
     * Sends a message to a subscription again, now, in a new round of attempts, whatever came of
     * the earlier ones. @throws NotFoundError when the subscription has no delivery of this
     * message; BadUserInputError when it is disabled, or the message is about a person since
     * erased and tells of no end (`isAboutErasedUser`).
     */
    async redeliver(subscriptionId: string, messageId: string, caller: Caller): Promise<WebhookDelivery> {
      return db.transaction().execute(async (tx) => {
        const subscription = await findSubscriptionForUpdate(tx, subscriptionId);
        if (!subscription) throw new NotFoundError('Webhook subscription');
        if (subscription.status !== 'enabled') throw new BadUserInputError('subscriptionId', 'the subscription is disabled; enable it first');
        if (await isAboutErasedUser(tx, messageId)) throw new BadUserInputError('messageId', 'is about a person since erased: of theirs, only the events of an end are sent');
        if (!(await restartDelivery(tx, subscriptionId, messageId, clock.now()))) throw new NotFoundError('Webhook delivery');
        await audit(tx, 'webhook.redelivered', caller, subscription, { messageId });
        await notifyWorkers(tx);
        return (await findDelivery(tx, subscriptionId, messageId))!;
      });
    },

    findSubscriptions: (db: Db, ids: readonly string[]) => findSubscriptionsByIds(db, ids),
    list: (db: Db, options: { limit: number; after?: { createdAt: Date; id: string } }) => listSubscriptions(db, options),
    findDeliveries: findDeliveriesOfSubscriptions,
    findAttempts: findAttemptsOfDeliveries,

    /** A delivery worker with this service's database, clock, key and policy, as `overrides` do not say otherwise. */
    createWorker(overrides: Partial<DeliveryWorkerOptions> = {}): DeliveryWorker {
      return createDeliveryWorker({
        db,
        clock,
        kek,
        logger: deps.logger,
        policy,
        resolve,
        timeoutSeconds: deps.config.webhookTimeout,
        pollIntervalSeconds: deps.config.webhookPollInterval,
        ...overrides,
      });
    },
  };
}
