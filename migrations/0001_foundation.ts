import { sql, type Kysely } from 'kysely';

// Shared database machinery that later tables rely on. Frozen: never import from src/.

export async function up(db: Kysely<any>): Promise<void> {
  // Raised by triggers on append-only tables (audit events, consent events): the database
  // itself refuses to rewrite history, whatever the code above it does.
  await sql`
    create function hub_forbid_change() returns trigger language plpgsql as $$
    begin
      raise exception '% on % is not allowed: the table is append-only', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
    end
    $$
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function hub_forbid_change()`.execute(db);
}
