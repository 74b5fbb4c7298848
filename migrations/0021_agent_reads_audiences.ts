import { sql, type Kysely } from 'kysely';

// Access reviews count a client's audience reads and exports as reads. Frozen: never import from
// src/.
//
// An audience page or export shows a member field, and a filter selects on one, only where the
// client's own data scopes cover it; `audience.queried` and `audience.exported` events record
// those fields, so a review that reads only `profile.read` reported a marketing client's scopes
// as unused. The partial index of migration 0009 now holds those events of clients too, with the
// same columns: a review still scans the window's agent reads index-only. Dropped and created in
// the migration's transaction, on the partitioned table as 0009 did, so on every partition,
// present and future, and never missing in between.

const AGENT_READS = sql.raw(`(action = 'profile.read' and actor_kind in ('client', 'delegated')
      or action in ('audience.queried', 'audience.exported') and actor_kind = 'client')`);

const PROFILE_READS = sql.raw(`action = 'profile.read' and actor_kind in ('client', 'delegated')`);

async function recreate(db: Kysely<any>, where: ReturnType<typeof sql.raw>): Promise<void> {
  await sql`drop index audit_events_agent_reads`.execute(db);
  await sql`
    create index audit_events_agent_reads on audit_events (occurred_at)
    include (actor_kind, actor_id, actor_chain, fields_read)
    where ${where}
  `.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await recreate(db, AGENT_READS);
}

export async function down(db: Kysely<any>): Promise<void> {
  await recreate(db, PROFILE_READS);
}
