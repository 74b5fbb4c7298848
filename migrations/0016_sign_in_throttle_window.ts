import { sql, type Kysely } from 'kysely';

// Counts of sign-in and sign-up attempts whose window has ended are deleted as new attempts come
// (src/identity/throttle.ts): this index finds them without reading the whole table. Frozen:
// never import from src/.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index sign_in_throttle_window_started_at on sign_in_throttle (window_started_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index sign_in_throttle_window_started_at`.execute(db);
}
