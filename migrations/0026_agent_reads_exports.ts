import { sql, type Kysely } from 'kysely';

// Access reviews count a client's data exports as reads. Frozen: never import from src/.
//
// An operator client with `users:admin` answers a data-subject request by exporting everything
// the hub holds about the person, and its `data.exported` event names every field it read; a
// review that left those events out reported such a client as having read nothing and every data
// scope it holds as unused. The partial index of migrations 0009 and 0021 now holds clients'
// exports too, with the same columns, so a review still scans the window's reads index-only.
// Dropped and created in the migration's transaction, on the partitioned table, as 0021 did.

const WITH_EXPORTS = sql.raw(`(action = 'profile.read' and actor_kind in ('client', 'delegated')
      or action in ('audience.queried', 'audience.exported', 'data.exported') and actor_kind = 'client')`);

const WITHOUT_EXPORTS = sql.raw(`(action = 'profile.read' and actor_kind in ('client', 'delegated')
      or action in ('audience.queried', 'audience.exported') and actor_kind = 'client')`);

async function recreate(db: Kysely<any>, where: ReturnType<typeof sql.raw>): Promise<void> {
  await sql`drop index audit_events_agent_reads`.execute(db);
  await sql`
    create index audit_events_agent_reads on audit_events (occurred_at)
    include (actor_kind, actor_id, actor_chain, fields_read)
    where ${where}
  `.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await recreate(db, WITH_EXPORTS);
}

export async function down(db: Kysely<any>): Promise<void> {
  await recreate(db, WITHOUT_EXPORTS);
}
