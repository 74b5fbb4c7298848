import { sql, type Kysely } from 'kysely';

// The user access tokens handed to an agent as the `subject_token` of a token exchange (RFC 8693).
// Frozen: never import from src/.
//
// An agent that exchanges a user's own access token holds it from then on: answering an approval
// of a payment action must not be possible with it. No table the hub has says so: revoked_tokens
// would end the user's session, and the `token.exchanged` audit event is written off the request
// path. A row names such a token by its `jti` until the token expires; then it may go.

const ms = sql`timestamptz(3)`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('exchanged_subject_tokens')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    // The first agent it was handed to; an exchange of the same token by another agent keeps it.
    .addColumn('agent_id', 'text', (c) => c.notNull())
    // The subject token's `exp`.
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('exchanged_at', ms, (c) => c.notNull())
    .execute();
  await sql`create index exchanged_subject_tokens_expires_at on exchanged_subject_tokens (expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('exchanged_subject_tokens').execute();
}
