import { sql, type Kysely } from 'kysely';

// A subscription the hub disabled because its receiver failed every attempt for days. Frozen:
// never import from src/.
//
// Every event to a dead receiver is retried for more than a day; without an end, a receiver gone
// for good costs every worker attempts forever. `failing` names the hub's own disabling, beside
// an operator's and a receiver's 410 Gone.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table webhook_subscriptions drop constraint webhook_subscriptions_disabled_reason_check`.execute(db);
  await sql`alter table webhook_subscriptions add constraint webhook_subscriptions_disabled_reason_check
    check (disabled_reason in ('operator', 'gone', 'failing'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`update webhook_subscriptions set disabled_reason = 'operator' where disabled_reason = 'failing'`.execute(db);
  await sql`alter table webhook_subscriptions drop constraint webhook_subscriptions_disabled_reason_check`.execute(db);
  await sql`alter table webhook_subscriptions add constraint webhook_subscriptions_disabled_reason_check
    check (disabled_reason in ('operator', 'gone'))`.execute(db);
}
