import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { newId } from '../shared/ids.js';
import { messageBody, type WebhookEvent } from './webhook-events.js';

export { WEBHOOK_EVENT_TYPES, type WebhookEvent } from './webhook-events.js';
export { endDeliveriesAboutErasedUser } from './erased-person.queries.js';

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

/** Wakes the delivery workers of every instance once the transaction commits. */
export async function notifyWorkers(tx: Db): Promise<void> {
  await sql`select pg_notify(${WEBHOOK_CHANNEL}, '')`.execute(tx);
}
