import { sql, type Kysely } from 'kysely';

// Webhooks: subscriptions, and a transactional outbox of messages with one delivery per
// subscriber and a log of every attempt. Frozen: never import from src/.
//
// A message and its deliveries are written in the transaction of the change they report, so a
// message exists exactly when that change committed. Delivery workers (one per hub instance)
// claim due deliveries with FOR UPDATE SKIP LOCKED and hold them by a lease: a worker that stops
// mid-delivery leaves a lease that lapses, and another worker takes the delivery over.
const ms = sql`timestamptz(3)`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_subscriptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull().check(sql`length(url) between 1 and 2048`))
    .addColumn('description', 'text', (c) => c.check(sql`length(description) <= 500`))
    .addColumn('event_types', sql`text[]`, (c) => c.notNull().check(sql`cardinality(event_types) between 1 and 64`))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('enabled').check(sql`status in ('enabled', 'disabled')`))
    // Why it is disabled: an operator's choice, or the receiver answered 410 Gone.
    .addColumn('disabled_reason', 'text', (c) => c.check(sql`disabled_reason in ('operator', 'gone')`))
    // The `whsec_` secret sealed with the key-encryption key (AES-256-GCM, bound to the id).
    .addColumn('secret_sealed', 'bytea', (c) => c.notNull())
    // The secret before the last rotation: it signs too, beside the current one, until it expires.
    .addColumn('previous_secret_sealed', 'bytea')
    .addColumn('previous_secret_expires_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addCheckConstraint('webhook_subscriptions_disabled', sql`(status = 'disabled') = (disabled_reason is not null)`)
    .execute();
  await sql`create index webhook_subscriptions_created on webhook_subscriptions (created_at, id)`.execute(db);

  await db.schema
    .createTable('webhook_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event_type', 'text', (c) => c.notNull())
    // The exact JSON body every attempt sends and signs: text, so no byte of it ever changes.
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await sql`create index webhook_messages_created on webhook_messages (created_at)`.execute(db);

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('webhook_subscriptions.id').onDelete('cascade'))
    .addColumn('message_id', 'text', (c) => c.notNull().references('webhook_messages.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'succeeded', 'failed')`))
    // What started the current round of attempts: the event itself, or an operator's redelivery.
    .addColumn('trigger', 'text', (c) => c.notNull().check(sql`trigger in ('scheduled', 'manual')`))
    // Attempts in the current round; picks the next step of the retry schedule.
    .addColumn('attempt_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', ms)
    .addColumn('lease_until', ms)
    .addColumn('lease_token', 'text')
    .addColumn('last_attempt_at', ms)
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('delivered_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_deliveries_pkey', ['subscription_id', 'message_id'])
    .addCheckConstraint('webhook_deliveries_pending', sql`(status = 'pending') = (next_attempt_at is not null)`)
    .execute();
  // What workers scan: the pending deliveries by when they are due.
  await sql`create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending'`.execute(db);
  await sql`create index webhook_deliveries_message on webhook_deliveries (message_id)`.execute(db);

  await db.schema
    .createTable('webhook_attempts')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('subscription_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('attempt_no', 'integer', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('attempted_at', ms, (c) => c.notNull())
    // Null when no response came (refused address, timeout, connection error).
    .addColumn('status_code', 'integer')
    .addColumn('error', 'text', (c) => c.check(sql`length(error) <= 500`))
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    // The attempt the outcome scheduled next; null when the delivery ended.
    .addColumn('next_attempt_at', ms)
    .addForeignKeyConstraint('webhook_attempts_delivery', ['subscription_id', 'message_id'], 'webhook_deliveries', ['subscription_id', 'message_id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();
  await sql`create index webhook_attempts_delivery on webhook_attempts (subscription_id, message_id, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['webhook_attempts', 'webhook_deliveries', 'webhook_messages', 'webhook_subscriptions']) {
    await db.schema.dropTable(table).execute();
  }
}
