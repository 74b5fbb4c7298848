import { sql, type Kysely } from 'kysely';

// A key of each person's own for naming payment entries in the audit trail. Frozen: never import
// from src/.
//
// The audit events of an approval named its authorization_details entry by a plain SHA-256, and
// an entry is one of few enough (a card is a brand, four digits and an expiry) that trying them
// all finds it in seconds, in an append-only trail kept after the person's erasure. They now name
// it by an HMAC under this random 32-byte key, created when the person's first event needs it.
// An erasure deletes the key, and the constraint holds it to that: no one can then tell from the
// kept events which entry they named.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('entry_hmac_key', 'bytea', (c) => c.check(sql`octet_length(entry_hmac_key) = 32`))
    .execute();
  await sql`alter table users add constraint users_erased_without_entry_hmac_key check (status <> 'erased' or entry_hmac_key is null)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table users drop constraint users_erased_without_entry_hmac_key`.execute(db);
  await db.schema.alterTable('users').dropColumn('entry_hmac_key').execute();
}
