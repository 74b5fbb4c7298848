import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { newId } from '../shared/ids.js';
import { messageBody, type WebhookEvent, type WebhookEventType } from './webhook-events.js';

export { WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventType } from './webhook-events.js';

/** The channel delivery workers LISTEN on; a committed event NOTIFYs it. */
export const WEBHOOK_CHANNEL = 'webhook_deliveries';

/**
 * Puts events in the outbox inside the caller's transaction, one delivery for every enabled
 * subscription to each event's type, due at once. Call it in the transaction of the change the
 * event reports: the events then exist exactly when that change commits, and a rolled-back
 * change sends nothing. An event no subscription asks for leaves no row. Workers are woken by a
 * NOTIFY, which PostgreSQL delivers only on commit. The subscribers are read `for key share`,
 * the lock each delivery's foreign key check takes: a subscription deleted meanwhile is skipped
 * once its deletion commits, instead of failing the insert and with it the caller's change.
 * One statement however many events: the events travel as three arrays (ids, types, bodies),
 * so thousands of them, from an agent's decommissioning, cost one round trip, not thousands.
 * @throws TypeError for an unknown event type or an oversized event (programmer misuse).
 */
export async function enqueueWebhookEvent(tx: Db, events: WebhookEvent | readonly WebhookEvent[], now: Date): Promise<void> {
  const list = Array.isArray(events) ? events : [events as WebhookEvent];
  if (list.length === 0) return;
  const bodies = list.map((event) => messageBody(event, now));
  const { rows } = await sql<{ deliveries: number }>`
    with events as (
      select * from unnest(${list.map(() => newId('msg'))}::text[], ${list.map((e) => e.type)}::text[], ${bodies}::text[]) as e(id, event_type, body)
    ), subscribers as (
      select id, event_types from webhook_subscriptions
      where status = 'enabled' and event_types && (select array_agg(distinct event_type) from events)
      for key share
    ), message as (
      insert into webhook_messages (id, event_type, body, created_at)
      select e.id, e.event_type, e.body, ${now} from events e
      where exists (select 1 from subscribers s where e.event_type = any(s.event_types))
      returning id, event_type
    ), inserted as (
      insert into webhook_deliveries (subscription_id, message_id, status, trigger, next_attempt_at, created_at)
      select s.id, m.id, 'pending', 'scheduled', ${now}, ${now} from message m join subscribers s on m.event_type = any(s.event_types)
      returning 1
    )
    select count(*)::int as deliveries from inserted`.execute(tx);
  if ((rows[0]?.deliveries ?? 0) > 0) await notifyWorkers(tx);
}

/**
 * The events that tell a receiver of an end (a consent withdrawn, an agent decommissioned, a token
 * revoked, a person erased): still sent about a person once they are erased, as the erasure's own.
 */
export const ENDING_EVENT_TYPES: readonly WebhookEventType[] = ['consent.withdrawn', 'agent.decommissioned', 'token.revoked', 'user.erased'];

/** Why a delivery ended by `endDeliveriesAboutErasedUser` was not sent. */
const ABOUT_ERASED_PERSON = 'not sent: the person it is about was erased';

/**
 * The person a message is about, as its data names them (`userId`, or an agent's `ownerUserId`):
 * the expression migration 0024 indexes, written as it is there.
 */
const PERSON_OF_MESSAGE = sql<string | null>`coalesce(m.body::jsonb #>> '{data,userId}', m.body::jsonb #>> '{data,ownerUserId}')`;

/**
 * Ends, as failed, the pending deliveries of messages about the person but those of an end
 * (`ENDING_EVENT_TYPES`), in the erasure's transaction: a receiver that was down must not get their
 * `consent.given`, retried, after their `user.erased`, and build again what it deleted (GDPR
 * Art. 17(2), Art. 19). A lease on one is void. Resolves to how many ended.
 */
export async function endDeliveriesAboutErasedUser(tx: Db, userId: string): Promise<number> {
  const { numAffectedRows } = await sql`
    update webhook_deliveries d
    set status = 'failed', next_attempt_at = null, lease_until = null, lease_token = null, last_error = ${ABOUT_ERASED_PERSON}
    from webhook_messages m
    where d.message_id = m.id and d.status = 'pending' and m.event_type <> all(${ENDING_EVENT_TYPES}::text[]) and ${PERSON_OF_MESSAGE} = ${userId}`.execute(tx);
  return Number(numAffectedRows ?? 0);
}

/**
 * Whether the message is about a person since erased, and tells of no end (see
 * `endDeliveriesAboutErasedUser`), with the person's row locked FOR SHARE until the caller's
 * transaction ends: an erasure (which locks the row first) either committed before, and the
 * message is refused, or waits for the caller and then ends what it restarted.
 */
export async function isAboutErasedUser(tx: Db, messageId: string): Promise<boolean> {
  const { rows } = await sql<{ status: string }>`
    select u.status from webhook_messages m join users u on u.id = ${PERSON_OF_MESSAGE}
    where m.id = ${messageId} and m.event_type <> all(${ENDING_EVENT_TYPES}::text[])
    for share of u`.execute(tx);
  return rows[0]?.status === 'erased';
}

/** Wakes the delivery workers of every instance once the transaction commits. */
export async function notifyWorkers(tx: Db): Promise<void> {
  await sql`select pg_notify(${WEBHOOK_CHANNEL}, '')`.execute(tx);
}
