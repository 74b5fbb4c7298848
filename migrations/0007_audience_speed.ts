import { sql, type Kysely } from 'kysely';

// Audiences at a million customers: narrow indexes that make counts index-only scans of a few
// megabytes, and the list of a client's saved audiences. Frozen: never import from src/.
//
// Migration 0006 carried every filter column in two wide indexes (about 450 bytes an entry): a
// count of one country's members read 25 MB of index, and any other selection scanned a whole
// purpose. Each index here leads with one attribute marketers commonly select on, after the
// purpose, and carries `expires_at` (every query checks it) plus the few small attributes most
// often combined with it, so the common selections count from one contiguous range of small
// entries without touching the table. The primary key (purpose, user_id) keeps every column for
// any other selection and for pages, which walk it in user-id order and stop at the page's end.
//
// Built with `create index`, not `concurrently`: migrations run in a transaction.

export async function up(db: Kysely<any>): Promise<void> {
  // One country: count and pages in user-id order from one narrow range.
  await sql`drop index audience_members_country`.execute(db);
  await sql`create index audience_members_country on audience_members (purpose, country, user_id) include (expires_at)`.execute(db);
  // Loyalty tiers, usually combined with stated interests or channels.
  await sql`create index audience_members_tier on audience_members (purpose, loyalty_tier, user_id) include (expires_at, interests, channels)`.execute(db);
  // Age bands, usually combined with recency or a country.
  await sql`create index audience_members_birthdate on audience_members (purpose, birthdate) include (expires_at, last_order_at, country)`.execute(db);
  // Recency of the last order, usually combined with an age band or a country.
  await sql`create index audience_members_last_order on audience_members (purpose, last_order_at) include (expires_at, birthdate, country)`.execute(db);

  // The triggers find a user's rows by user_id alone. A hash index serves those lookups and
  // cannot be walked in order, so the planner never pages an audience through it, fetching table
  // rows to check the purpose and the filter, instead of an index that carries them.
  await sql`drop index audience_members_user`.execute(db);
  await sql`create index audience_members_user on audience_members using hash (user_id)`.execute(db);

  // `savedAudiences`: one client's audiences in creation (id) order.
  await sql`create index saved_audiences_creator on saved_audiences (created_by, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index saved_audiences_creator`.execute(db);
  await sql`drop index audience_members_user`.execute(db);
  await sql`create index audience_members_user on audience_members (user_id)`.execute(db);
  for (const name of ['audience_members_last_order', 'audience_members_birthdate', 'audience_members_tier', 'audience_members_country']) {
    await sql`drop index ${sql.raw(name)}`.execute(db);
  }
  const covered = 'expires_at, country, locale, loyalty_tier, loyalty_points, birthdate, signed_up_at, interests, channels, order_count, order_spend_minor, last_order_at';
  await sql`create index audience_members_country on audience_members (purpose, country, user_id) include (${sql.raw(covered)})`.execute(db);
}
