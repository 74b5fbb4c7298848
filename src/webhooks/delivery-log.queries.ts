import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import type { DeliveryStatusColumn, DeliveryTriggerColumn } from './webhook.tables.js';

/** A message's delivery to one subscription, as the log shows it. */
export interface WebhookDelivery {
  readonly subscriptionId: string;
  /** The message id: the `webhook-id` header, the same on every attempt. */
  readonly messageId: string;
  readonly eventType: string;
  /** The exact JSON body sent. */
  readonly body: string;
  readonly status: DeliveryStatusColumn;
  readonly trigger: DeliveryTriggerColumn;
  readonly attemptCount: number;
  readonly nextAttemptAt: Date | null;
  readonly lastAttemptAt: Date | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: Date | null;
  readonly createdAt: Date;
}

/** One attempt in the log. */
export interface WebhookAttempt {
  readonly attempt: number;
  readonly trigger: DeliveryTriggerColumn;
  readonly attemptedAt: Date;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
  readonly nextAttemptAt: Date | null;
}

interface DeliveryRow {
  subscription_id: string;
  message_id: string;
  event_type: string;
  body: string;
  status: DeliveryStatusColumn;
  trigger: DeliveryTriggerColumn;
  attempt_count: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
}

/** The one mapping from a delivery row (joined to its message) to a WebhookDelivery. */
function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    subscriptionId: row.subscription_id,
    messageId: row.message_id,
    eventType: row.event_type,
    body: row.body,
    status: row.status,
    trigger: row.trigger,
    attemptCount: row.attempt_count,
    nextAttemptAt: row.next_attempt_at,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
  };
}

const DELIVERY_COLUMNS = sql`d.subscription_id, d.message_id, m.event_type, m.body, d.status, d.trigger, d.attempt_count,
  d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.created_at`;

/**
 * Each subscription's deliveries, newest message first, `limit` of them after the message id
 * `afterMessageId`, in one query for all the subscriptions (a lateral scan of each one's range of
 * the primary key). Keyed by subscription id; a subscription without deliveries is absent.
 */
export async function findDeliveriesOfSubscriptions(
  db: Db,
  subscriptionIds: readonly string[],
  options: { limit: number; afterMessageId?: string; status?: DeliveryStatusColumn },
): Promise<Map<string, WebhookDelivery[]>> {
  const byId = new Map<string, WebhookDelivery[]>();
  if (subscriptionIds.length === 0) return byId;
  const after = options.afterMessageId === undefined ? sql`` : sql`and d.message_id < ${options.afterMessageId}`;
  const status = options.status === undefined ? sql`` : sql`and d.status = ${options.status}`;
  const { rows } = await sql<DeliveryRow>`
    select ${DELIVERY_COLUMNS}
    from unnest(${[...subscriptionIds]}::text[]) as k(id)
    cross join lateral (
      select * from webhook_deliveries d where d.subscription_id = k.id ${after} ${status}
      order by d.message_id desc limit ${options.limit}
    ) d
    join webhook_messages m on m.id = d.message_id
    order by d.subscription_id, d.message_id desc`.execute(db);
  for (const row of rows) {
    const list = byId.get(row.subscription_id) ?? [];
    list.push(toDelivery(row));
    byId.set(row.subscription_id, list);
  }
  return byId;
}

/** One delivery; undefined when the subscription has no delivery of this message. */
export async function findDelivery(db: Db, subscriptionId: string, messageId: string): Promise<WebhookDelivery | undefined> {
  const { rows } = await sql<DeliveryRow>`
    select ${DELIVERY_COLUMNS} from webhook_deliveries d join webhook_messages m on m.id = d.message_id
    where d.subscription_id = ${subscriptionId} and d.message_id = ${messageId}`.execute(db);
  return rows[0] && toDelivery(rows[0]);
}

/** Most attempts the log returns per delivery: the newest ones. */
const MAX_ATTEMPTS_LISTED = 50;

/** The attempts of each delivery (keyed `subscriptionId messageId`), oldest first: the newest MAX_ATTEMPTS_LISTED. */
export async function findAttemptsOfDeliveries(db: Db, keys: readonly { subscriptionId: string; messageId: string }[]): Promise<Map<string, WebhookAttempt[]>> {
  const byKey = new Map<string, WebhookAttempt[]>();
  if (keys.length === 0) return byKey;
  const { rows } = await sql<{
    subscription_id: string;
    message_id: string;
    attempt_no: number;
    trigger: DeliveryTriggerColumn;
    attempted_at: Date;
    status_code: number | null;
    error: string | null;
    duration_ms: number;
    next_attempt_at: Date | null;
  }>`
    select k.s as subscription_id, k.m as message_id, a.attempt_no, a.trigger, a.attempted_at, a.status_code, a.error, a.duration_ms, a.next_attempt_at
    from unnest(${keys.map((k) => k.subscriptionId)}::text[], ${keys.map((k) => k.messageId)}::text[]) as k(s, m)
    cross join lateral (
      select * from webhook_attempts a where a.subscription_id = k.s and a.message_id = k.m order by a.id desc limit ${MAX_ATTEMPTS_LISTED}
    ) a
    order by a.id`.execute(db);
  for (const row of rows) {
    const key = deliveryKey(row.subscription_id, row.message_id);
    const list = byKey.get(key) ?? [];
    list.push({
      attempt: row.attempt_no,
      trigger: row.trigger,
      attemptedAt: row.attempted_at,
      statusCode: row.status_code,
      error: row.error,
      durationMs: row.duration_ms,
      nextAttemptAt: row.next_attempt_at,
    });
    byKey.set(key, list);
  }
  return byKey;
}

export const deliveryKey = (subscriptionId: string, messageId: string) => `${subscriptionId} ${messageId}`;
