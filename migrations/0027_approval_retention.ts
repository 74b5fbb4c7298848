import { sql, type Kysely } from 'kysely';

// Approvals are deleted 30 days after they expired, a few as each new one is asked for
// (src/consent/approval.service.ts): this index finds them without reading the whole table.
// Frozen: never import from src/.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index approvals_expires_at on approvals (expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index approvals_expires_at`.execute(db);
}
