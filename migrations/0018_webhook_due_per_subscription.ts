import { sql, type Kysely } from 'kysely';

// The pending deliveries of each subscription by when they are due. Frozen: never import from
// src/.
//
// A claim looked at every due delivery of every subscription to rank them per subscription, and
// a subscription disabled, or whose receiver has been down for a day, can hold hundreds of
// thousands: each claim, made after every attempt, read them all. With this index a claim reads,
// for each enabled subscription (at most 100), only the few it may take.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index webhook_deliveries_subscription_due on webhook_deliveries (subscription_id, next_attempt_at, message_id) where status = 'pending'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index webhook_deliveries_subscription_due`.execute(db);
}
