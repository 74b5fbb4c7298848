import { sql, type Kysely } from 'kysely';

// Agents (non-human identities and their secrets), the first tables of the consent ledger, and
// what the token service keeps: revoked access tokens and the delegation a refresh token carries.
// Frozen: never import from src/.
const ms = sql`timestamptz(3)`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('agents')
    // The agent's OAuth client_id: `agt_` and a ULID, or the id HUB_BOOTSTRAP_CLIENT_ID names.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) between 1 and 200`))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('ai_agent', 'service', 'bot')`))
    .addColumn('description', 'text')
    // Expiry is not a status: an agent past expires_at is expired whatever this column says.
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active').check(sql`status in ('active', 'suspended', 'decommissioned')`))
    // The ceiling of every token the agent can ever get.
    .addColumn('allowed_scopes', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('owner_kind', 'text', (c) => c.notNull().check(sql`owner_kind in ('operator', 'user')`))
    .addColumn('owner_user_id', 'text', (c) => c.references('users.id'))
    .addColumn('parent_agent_id', 'text', (c) => c.references('agents.id'))
    // Parent, grandparent, …: set once at registration (a parent never changes), so checking a
    // sub-agent's whole lineage is one flat lookup rather than a recursive walk per request.
    .addColumn('ancestor_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    // The hub's own operator console client (bootstrap); first start creates one when none ever existed.
    .addColumn('is_operator', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', ms)
    .addColumn('last_used_at', ms)
    .addCheckConstraint('agents_owner', sql`(owner_kind = 'user') = (owner_user_id is not null)`)
    .addCheckConstraint('agents_not_own_parent', sql`parent_agent_id is distinct from id`)
    .execute();
  await sql`create index agents_owner on agents (owner_user_id, created_at, id) where owner_user_id is not null`.execute(db);
  await sql`create index agents_parent on agents (parent_agent_id) where parent_agent_id is not null`.execute(db);
  await sql`create index agents_created_at_id on agents (created_at, id)`.execute(db);

  await db.schema
    .createTable('agent_secrets')
    .addColumn('agent_id', 'text', (c) => c.notNull().references('agents.id').onDelete('cascade'))
    // SHA-256 of a 256-bit random secret: beyond guessing, so no slow hash is needed.
    .addColumn('secret_hash', 'bytea', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    // Null while current; set to the end of the grace period when a newer secret replaces it.
    .addColumn('expires_at', ms)
    .addPrimaryKeyConstraint('agent_secrets_pkey', ['agent_id', 'secret_hash'])
    .execute();

  // The consent ledger's current state: one row per consent, cheap to check per request.
  await db.schema
    .createTable('consents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    // Null for a consent to the company itself; else the one agent it delegates to.
    .addColumn('agent_id', 'text', (c) => c.references('agents.id'))
    .addColumn('scopes', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    // Expiry is honoured from expires_at at read time; 'expired' is for a later sweep to record it.
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active').check(sql`status in ('active', 'withdrawn', 'expired')`))
    .addColumn('given_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms)
    .addColumn('withdrawn_at', ms)
    .addColumn('collection_method', 'text', (c) => c.notNull())
    .addColumn('policy_version', 'text', (c) => c.notNull())
    .addCheckConstraint('consents_withdrawn_at', sql`(status = 'withdrawn') = (withdrawn_at is not null)`)
    .execute();
  await sql`create index consents_user on consents (user_id, given_at desc, id desc)`.execute(db);
  await sql`create index consents_agent on consents (agent_id, user_id) where agent_id is not null`.execute(db);
  // At most one live consent per person, purpose and grantee: a new one supersedes the old.
  await sql`create unique index consents_one_active on consents (user_id, purpose, coalesce(agent_id, '')) where status = 'active'`.execute(db);

  // The ledger's history: append-only, enforced by the database.
  await db.schema
    .createTable('consent_events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('consent_id', 'text', (c) => c.notNull().references('consents.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('given', 'withdrawn', 'expired')`))
    .addColumn('occurred_at', ms, (c) => c.notNull())
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('detail', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await sql`create index consent_events_consent on consent_events (consent_id, id)`.execute(db);
  await sql`create trigger consent_events_append_only before update or delete on consent_events for each row execute function hub_forbid_change()`.execute(db);
  await sql`create trigger consent_events_no_truncate before truncate on consent_events for each statement execute function hub_forbid_change()`.execute(db);

  // Access tokens revoked before their expiry, by jti; a row may go once the token has expired.
  await db.schema
    .createTable('revoked_tokens')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('revoked_at', ms, (c) => c.notNull())
    .execute();
  await sql`create index revoked_tokens_expires_at on revoked_tokens (expires_at)`.execute(db);

  // A refresh token of delegated access carries its consent and the acting agents, nearest first.
  await db.schema
    .alterTable('refresh_tokens')
    .addColumn('consent_id', 'text', (c) => c.references('consents.id'))
    .addColumn('actor_chain', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .execute();
  await sql`create index refresh_tokens_consent on refresh_tokens (consent_id) where consent_id is not null`.execute(db);
  await sql`create index refresh_tokens_actor_chain on refresh_tokens using gin (actor_chain) where consent_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('refresh_tokens').dropColumn('actor_chain').dropColumn('consent_id').execute();
  for (const table of ['revoked_tokens', 'consent_events', 'consents', 'agent_secrets', 'agents']) {
    await db.schema.dropTable(table).execute();
  }
}
