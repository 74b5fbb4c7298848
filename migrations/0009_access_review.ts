import { sql, type Kysely } from 'kysely';

// What access reviews and `Agent.consents` read. Frozen: never import from src/.

export async function up(db: Kysely<any>): Promise<void> {
  // Which data each agent read in a window. Reads by agents (a client acting as itself, or an
  // agent acting for a user) are a small share of profile reads, most of which are users reading
  // their own profile; this partial index holds only the agents' reads, with every column the
  // review uses, so a review scans the window's agent reads index-only (the audit table is
  // append-only, so its pages stay all-visible once vacuumed) and never the users' own reads.
  // Created on the partitioned table, it is created on every partition, present and future.
  await sql`
    create index audit_events_agent_reads on audit_events (occurred_at)
    include (actor_kind, actor_id, actor_chain, fields_read)
    where action = 'profile.read' and actor_kind in ('client', 'delegated')
  `.execute(db);

  // The consents naming an agent, newest first, a page at a time without sorting all of them.
  await sql`create index consents_agent_given on consents (agent_id, given_at desc, id desc) where agent_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index consents_agent_given`.execute(db);
  await sql`drop index audit_events_agent_reads`.execute(db);
}
