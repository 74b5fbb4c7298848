import { sql, type Kysely } from 'kysely';

// A subscription's delivery log filtered on a status (`deliveries(status: FAILED)`), newest
// first. Without this index a page walked the subscription's deliveries newest first until it had
// found enough of that status: for a status few or none have (a receiver that never failed), it
// read every delivery of the 30 days kept (300,000 of them: about 130 ms a page). With it a page
// reads only the deliveries it returns. Frozen: never import from src/.
// Built with `create index`, not `concurrently`, as migrations run in a transaction: deliveries
// wait while it is built (under a second at 300,000 of them).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index webhook_deliveries_subscription_status on webhook_deliveries (subscription_id, status, message_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index webhook_deliveries_subscription_status`.execute(db);
}
