import { sql, type Kysely } from 'kysely';

// Refresh-token rows that are deleted. Frozen: never import from src/.
//
// Every rotation adds a row to `refresh_tokens`, and nothing removed them: a user's sessions and
// an agent's offline access left rows behind for good (src/oauth/refresh-token.queries.ts).
// - A family is deleted once its last token has been expired for a while. Each family's latest
//   token is its one row not yet rotated, so the index below holds one entry per family, by when
//   its token expires: the families that may have ended are found without reading rotated rows.
// - Inside a family in use, a token rotated a while ago is deleted when its text names its row
//   and family under the hub's MAC (`named_in_token`): its reuse is still recognized, by that
//   name, and revokes the family. Tokens issued before carry no name, and their rows stay.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('refresh_tokens').addColumn('named_in_token', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
  await sql`create index refresh_tokens_head_expiry on refresh_tokens (expires_at) where rotated_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index refresh_tokens_head_expiry`.execute(db);
  await db.schema.alterTable('refresh_tokens').dropColumn('named_in_token').execute();
}
