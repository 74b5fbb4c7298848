import { sql, type Kysely } from 'kysely';

// `users(filter: { country })` lists one country's users oldest first, or in id order for a token
// that may not read when anyone signed up. Without these indexes a page walked every user in that
// order until it had found enough of the country: a country few or no users have read the whole
// table (a million users: a parallel scan of about 230 ms for each page). Each index here leads
// with the country, in one of the two orders, so a page reads only the rows it returns.
// Built with `create index`, not `concurrently`, as migrations run in a transaction: inserts and
// updates of users wait while they are built (about 2 s each at a million users).
// Frozen: never import from src/.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index users_country_created_at on users (country, created_at, id)`.execute(db);
  await sql`create index users_country_id on users (country, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index users_country_id`.execute(db);
  await sql`drop index users_country_created_at`.execute(db);
}
