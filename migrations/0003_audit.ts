import { sql, type Kysely } from 'kysely';

// The audit trail: one append-only table of events, partitioned by month, each event hashed and
// chained to the previous event of the same subject. Frozen: never import from src/.

export async function up(db: Kysely<any>): Promise<void> {
  // Timestamps at millisecond precision: what is stored is exactly what JavaScript wrote and reads
  // back, so an event's hash computed at write time can be recomputed from the row.
  await sql`
    create table audit_events (
      id text not null,
      occurred_at timestamptz(3) not null,
      action text not null,
      actor_kind text not null check (actor_kind in ('user', 'delegated', 'client', 'anonymous', 'system')),
      actor_id text,
      actor_chain text[] not null default '{}',
      subject_user_id text,
      client_id text,
      purpose text,
      consent_id text,
      fields_read text[] not null default '{}',
      fields_denied text[] not null default '{}',
      decision text not null check (decision in ('allow', 'deny')),
      reason text,
      request_id text,
      detail jsonb not null default '{}',
      chain_key text not null,
      chain_seq bigint not null check (chain_seq > 0),
      prev_hash bytea not null,
      hash bytea not null,
      primary key (id, occurred_at)
    ) partition by range (occurred_at)
  `.execute(db);

  // Catches any event whose month has no partition yet, so an insert never fails for lack of one.
  await sql`create table audit_events_default partition of audit_events default`.execute(db);

  // Row triggers on the partitioned table are cloned onto every partition, present and future.
  // Statement triggers are not, so each partition gets its own TRUNCATE guard.
  await sql`create trigger audit_events_append_only before update or delete on audit_events for each row execute function hub_forbid_change()`.execute(db);
  await sql`create trigger audit_events_no_truncate before truncate on audit_events for each statement execute function hub_forbid_change()`.execute(db);
  await sql`create trigger audit_events_no_truncate before truncate on audit_events_default for each statement execute function hub_forbid_change()`.execute(db);

  await sql`create index audit_events_subject on audit_events (subject_user_id, occurred_at desc, id desc)`.execute(db);
  await sql`create index audit_events_time on audit_events (occurred_at desc, id desc)`.execute(db);
  await sql`create index audit_events_actor_chain on audit_events using gin (actor_chain)`.execute(db);
  await sql`create index audit_events_actor on audit_events (actor_id, occurred_at desc, id desc)`.execute(db);
  await sql`create index audit_events_action on audit_events (action, occurred_at desc, id desc)`.execute(db);
  // Not unique (uniqueness across partitions would need occurred_at in the key): it orders the
  // chain walk of verification, which is what catches a repeated or missing seq.
  await sql`create index audit_events_chain on audit_events (chain_key, chain_seq, id)`.execute(db);

  // The last link of each chain. Appending upserts the subject's row, which locks only that row
  // until commit: appends for one subject serialize, appends for different subjects never do.
  await sql`
    create table audit_chain_heads (
      chain_key text primary key,
      seq bigint not null check (seq > 0),
      hash bytea not null
    )
  `.execute(db);
  await sql`create trigger audit_chain_heads_keep before delete on audit_chain_heads for each row execute function hub_forbid_change()`.execute(db);
  await sql`create trigger audit_chain_heads_no_truncate before truncate on audit_chain_heads for each statement execute function hub_forbid_change()`.execute(db);

  // Creates the monthly partitions (UTC months) for the month of `month_of` and the next, each
  // with its TRUNCATE guard. Idempotent and safe to call from several instances at once. Creating
  // a partition locks the whole table; it waits at most 2 s for that lock rather than make every
  // audit append queue behind a long reader, and fails instead (callers try again later). A month
  // whose events already sit in the default partition is left there, reported as a notice: its
  // partition could not be attached without moving rows out of an append-only table.
  await sql`
    create function audit_ensure_partitions(month_of timestamptz default now()) returns setof text
    language plpgsql as $$
    declare
      month_start timestamptz;
      month_end timestamptz;
      part text;
      stranded boolean;
      previous_lock_timeout text := current_setting('lock_timeout');
    begin
      perform pg_advisory_xact_lock(hashtext('audit_ensure_partitions'));
      perform set_config('lock_timeout', '2s', true);
      for i in 0..1 loop
        month_start := (date_trunc('month', month_of at time zone 'UTC') + make_interval(months => i)) at time zone 'UTC';
        month_end := (date_trunc('month', month_of at time zone 'UTC') + make_interval(months => i + 1)) at time zone 'UTC';
        part := 'audit_events_' || to_char(month_start at time zone 'UTC', 'YYYY_MM');
        continue when to_regclass(quote_ident(part)) is not null;
        select exists (select 1 from audit_events_default where occurred_at >= month_start and occurred_at < month_end) into stranded;
        if stranded then
          raise notice 'audit events of % are in the default partition; % not created', to_char(month_start at time zone 'UTC', 'YYYY-MM'), part;
          continue;
        end if;
        execute format('create table %I partition of audit_events for values from (%L) to (%L)', part, month_start, month_end);
        execute format('create trigger audit_events_no_truncate before truncate on %I for each statement execute function hub_forbid_change()', part);
        return next part;
      end loop;
      perform set_config('lock_timeout', previous_lock_timeout, true);
    end
    $$
  `.execute(db);
  await sql`select audit_ensure_partitions(now())`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function audit_ensure_partitions(timestamptz)`.execute(db);
  await sql`drop table audit_chain_heads`.execute(db);
  await sql`drop table audit_events`.execute(db);
}
