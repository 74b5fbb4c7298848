import { sql, type Kysely } from 'kysely';

// Audience rows are rebuilt only for changes of consents to the company. Frozen: never import
// from src/.
//
// The triggers of migration 0006 rebuilt the audience rows of every user named by a changed
// consent, consents to agents included, though only consents to the company make rows. Each
// rebuild takes a lock per user until the transaction ends (migration 0011), and PostgreSQL's
// lock table holds some thousands in all (max_locks_per_transaction times max_connections):
// decommissioning an agent that twenty thousand people consented to withdraws their consents in
// one statement, and failed with "out of shared memory" without changing a single audience row.
// Now a statement rebuilds the users whose consents to the company it changed, before or after.

const rebuild = (rows: string) => sql.raw(`perform audience_resync(array(select distinct user_id from (${rows}) company));`);

const BODIES = {
  insert: rebuild('select user_id from changed where agent_id is null'),
  delete: rebuild('select user_id from changed where agent_id is null'),
  update: rebuild('select user_id from changed where agent_id is null union all select user_id from previous where agent_id is null'),
};

async function replace(db: Kysely<any>, event: keyof typeof BODIES, body: ReturnType<typeof sql.raw>): Promise<void> {
  const name = sql.raw(`audience_on_consents_${event}`);
  await sql`create or replace function ${name}() returns trigger language plpgsql as $$
    begin
      ${body}
      return null;
    end
    $$`.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const event of ['insert', 'delete', 'update'] as const) await replace(db, event, BODIES[event]);
  // An update names its consents' grantee before and after: both transition tables are needed.
  await sql`drop trigger audience_on_consents_update on consents`.execute(db);
  await sql`create trigger audience_on_consents_update after update on consents referencing new table as changed old table as previous
    for each statement execute function audience_on_consents_update()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger audience_on_consents_update on consents`.execute(db);
  await sql`create trigger audience_on_consents_update after update on consents referencing new table as changed
    for each statement execute function audience_on_consents_update()`.execute(db);
  for (const event of ['insert', 'delete', 'update'] as const) await replace(db, event, rebuild('select user_id from changed'));
}
