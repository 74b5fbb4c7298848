import { sql, type Selectable } from 'kysely';
import type { Db } from '../db/connect.js';
import { webhookDb, type DisabledReasonColumn, type WebhookSubscriptionsTable } from './webhook.tables.js';

/** A webhook subscription as the API shows it: never its secrets. */
export interface WebhookSubscription {
  readonly id: string;
  readonly url: string;
  readonly description: string | null;
  readonly eventTypes: readonly string[];
  readonly status: 'enabled' | 'disabled';
  /** Why it is disabled: an operator's choice, the receiver answered 410 Gone, or it failed for days. */
  readonly disabledReason: DisabledReasonColumn | null;
  /** Until when the secret before the last rotation signs too; null when only one signs. */
  readonly previousSecretExpiresAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The one mapping from a `webhook_subscriptions` row to a WebhookSubscription. */
function toSubscription(row: Selectable<WebhookSubscriptionsTable>): WebhookSubscription {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    status: row.status,
    disabledReason: row.disabled_reason,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function insertSubscription(
  db: Db,
  row: { id: string; url: string; description: string | null; eventTypes: readonly string[]; secretSealed: Buffer; now: Date },
): Promise<WebhookSubscription> {
  const inserted = await webhookDb(db)
    .insertInto('webhook_subscriptions')
    .values({
      id: row.id,
      url: row.url,
      description: row.description,
      event_types: [...row.eventTypes],
      status: 'enabled',
      disabled_reason: null,
      secret_sealed: row.secretSealed,
      created_at: row.now,
      updated_at: row.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSubscription(inserted);
}

export async function findSubscriptionsByIds(db: Db, ids: readonly string[]): Promise<WebhookSubscription[]> {
  if (ids.length === 0) return [];
  const rows = await webhookDb(db).selectFrom('webhook_subscriptions').selectAll().where('id', 'in', [...ids]).execute();
  return rows.map(toSubscription);
}

/**
 * Locks the subscription for a change; undefined when there is none with this id. `for no key
 * update`, so an event enqueued meanwhile, which takes `for key share` on its subscribers (as
 * the foreign key check of each delivery does), is not blocked: a change audits on the hub's
 * chain after taking this lock, and an event about no user audits on that chain before it
 * inserts its deliveries, so blocking it would deadlock the two.
 */
export async function findSubscriptionForUpdate(db: Db, id: string): Promise<WebhookSubscription | undefined> {
  const row = await webhookDb(db).selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).forNoKeyUpdate().executeTakeFirst();
  return row && toSubscription(row);
}

export type SubscriptionChanges = Partial<{
  url: string;
  description: string | null;
  eventTypes: readonly string[];
  status: 'enabled' | 'disabled';
  disabledReason: DisabledReasonColumn | null;
  secretSealed: Buffer;
  previousSecretSealed: Buffer | null;
  previousSecretExpiresAt: Date | null;
}>;

export async function updateSubscription(db: Db, id: string, changes: SubscriptionChanges, now: Date): Promise<WebhookSubscription> {
  const row = await webhookDb(db)
    .updateTable('webhook_subscriptions')
    .set({
      updated_at: now,
      ...(changes.url !== undefined && { url: changes.url }),
      ...(changes.description !== undefined && { description: changes.description }),
      ...(changes.eventTypes !== undefined && { event_types: [...changes.eventTypes] }),
      ...(changes.status !== undefined && { status: changes.status }),
      ...(changes.disabledReason !== undefined && { disabled_reason: changes.disabledReason }),
      ...(changes.secretSealed !== undefined && { secret_sealed: changes.secretSealed }),
      ...(changes.previousSecretSealed !== undefined && { previous_secret_sealed: changes.previousSecretSealed }),
      ...(changes.previousSecretExpiresAt !== undefined && { previous_secret_expires_at: changes.previousSecretExpiresAt }),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSubscription(row);
}

/** Deletes the subscription with its deliveries and their log; the messages stay for other subscribers. */
export async function deleteSubscription(db: Db, id: string): Promise<void> {
  await webhookDb(db).deleteFrom('webhook_subscriptions').where('id', '=', id).execute();
}

/** A page of subscriptions in creation order, `limit` rows after the key. */
export async function listSubscriptions(db: Db, options: { limit: number; after?: { createdAt: Date; id: string } }): Promise<WebhookSubscription[]> {
  const { after } = options;
  const rows = await webhookDb(db)
    .selectFrom('webhook_subscriptions')
    .selectAll()
    .$if(after !== undefined, (q) => q.where(sql<boolean>`(created_at, id) > (${after!.createdAt}, ${after!.id})`))
    .orderBy('created_at')
    .orderBy('id')
    .limit(options.limit)
    .execute();
  return rows.map(toSubscription);
}

export async function countSubscriptions(db: Db): Promise<number> {
  const row = await webhookDb(db).selectFrom('webhook_subscriptions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Serializes changes to the set of subscriptions for the rest of the transaction, so a limit on
 * their number holds under concurrent creation.
 */
export async function lockSubscriptionSet(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('webhook_subscriptions'))`.execute(db);
}

/** The sealed current secret of a subscription, for a rotation; undefined when it does not exist. */
export async function findSealedSecret(db: Db, id: string): Promise<Uint8Array | undefined> {
  const row = await webhookDb(db).selectFrom('webhook_subscriptions').select('secret_sealed').where('id', '=', id).executeTakeFirst();
  return row?.secret_sealed;
}
