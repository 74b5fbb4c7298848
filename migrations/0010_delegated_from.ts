import { sql, type Kysely } from 'kysely';

// Binds a sub-agent's refresh tokens to the grants of the tokens they were exchanged from.
// Frozen: never import from src/.

export async function up(db: Kysely<any>): Promise<void> {
  // The `delegated_from` claim of the access token issued with the family's first token: the
  // `jti` and refresh family (`sid`) of every token it was exchanged from, nearest first, as
  // `[{"jti": …, "sid": …}]`. Empty for a user's session and for a first hop. Revoking any of
  // those tokens or families revokes this family too; jsonb_path_ops indexes the containment
  // (`@> '[{"sid": …}]'`) that finds the families to revoke, both by `jti` and by `sid`.
  await db.schema
    .alterTable('refresh_tokens')
    .addColumn('delegated_from', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'`))
    .execute();
  await sql`create index refresh_tokens_delegated_from on refresh_tokens using gin (delegated_from jsonb_path_ops) where delegated_from <> '[]'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index refresh_tokens_delegated_from`.execute(db);
  await db.schema.alterTable('refresh_tokens').dropColumn('delegated_from').execute();
}
