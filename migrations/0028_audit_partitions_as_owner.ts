import { sql, type Kysely } from 'kysely';

// The monthly partitions of the audit trail are created with the rights of the function's owner,
// so a hub running as a role that owns no table (and so can neither drop a partition nor lift the
// append-only triggers) still gets them: creating a partition of audit_events takes its owner.
// Frozen: never import from src/.
//
// As PostgreSQL's documentation on SECURITY DEFINER functions asks, the function's search_path is
// fixed to the schema the hub's tables are in, then pg_temp last, so that no caller's own objects
// stand in for the ones it names; and only its owner may run it until someone is granted it.

export async function up(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]!.schema;
  await sql`alter function audit_ensure_partitions(timestamptz) security definer set search_path = ${sql.id(schema)}, pg_temp`.execute(db);
  await sql`revoke execute on function audit_ensure_partitions(timestamptz) from public`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`grant execute on function audit_ensure_partitions(timestamptz) to public`.execute(db);
  await sql`alter function audit_ensure_partitions(timestamptz) security invoker reset search_path`.execute(db);
}
