import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { newId } from '../shared/ids.js';
import { messageBody, type WebhookEvent } from './webhook-events.js';

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
 * @throws TypeError for an unknown event type or an oversized event (programmer misuse).
 */
export async function enqueueWebhookEvent(tx: Db, events: WebhookEvent | readonly WebhookEvent[], now: Date): Promise<void> {
  let deliveries = 0;
  for (const event of Array.isArray(events) ? events : [events as WebhookEvent]) {
    const body = messageBody(event, now);
    const { rows } = await sql<{ deliveries: number }>`
      with subscribers as (
        select id from webhook_subscriptions where status = 'enabled' and ${event.type} = any(event_types) for key share
      ), message as (
        insert into webhook_messages (id, event_type, body, created_at)
        select ${newId('msg')}, ${event.type}, ${body}, ${now} where exists (select 1 from subscribers)
        returning id
      ), inserted as (
        insert into webhook_deliveries (subscription_id, message_id, status, trigger, next_attempt_at, created_at)
        select subscribers.id, message.id, 'pending', 'scheduled', ${now}, ${now} from message cross join subscribers
        returning 1
      )
      select count(*)::int as deliveries from inserted`.execute(tx);
    deliveries += rows[0]?.deliveries ?? 0;
  }
  if (deliveries > 0) await notifyWorkers(tx);
}

/** Wakes the delivery workers of every instance once the transaction commits. */
export async function notifyWorkers(tx: Db): Promise<void> {
  await sql`select pg_notify(${WEBHOOK_CHANNEL}, '')`.execute(tx);
}
