import { sql, type Kysely } from 'kysely';

// Finds refresh-token families that have ended. Frozen: never import from src/.
//
// Every rotation adds a row to `refresh_tokens`, and nothing removed them: a user's sessions and
// an agent's offline access left rows behind for good. A family is deleted once its last token
// has been expired for a while (src/oauth/refresh-token.queries.ts). Each family's latest token is
// its one row not yet rotated, so this index holds one entry per family, by when its token
// expires: the families that may have ended are found without reading the rotated rows.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index refresh_tokens_head_expiry on refresh_tokens (expires_at) where rotated_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index refresh_tokens_head_expiry`.execute(db);
}
