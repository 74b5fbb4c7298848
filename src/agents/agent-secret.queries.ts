import { sql, type Selectable } from 'kysely';
import type { AgentsTable } from '../db/database.js';
import type { Db } from '../db/connect.js';
import { PREPARED_MARKER } from '../db/prepared.js';
import { toAgent, type Agent } from './agent.queries.js';

/** A secret's hash and until when it is valid (null: until a rotation replaces it). */
export interface SecretHash {
  readonly hash: Buffer;
  readonly expiresAt: Date | null;
}

/** Stores a secret's hash, never the secret; storing the same hash twice changes nothing. */
export async function insertAgentSecret(db: Db, agentId: string, secretHash: Buffer, now: Date): Promise<void> {
  await db.insertInto('agent_secrets').values({ agent_id: agentId, secret_hash: secretHash, created_at: now }).onConflict((oc) => oc.doNothing()).execute();
}

/**
 * Makes the secret with this hash valid with no end, adding it or bringing back one the agent had
 * before (with its age: a secret used again is not a new one).
 */
export async function makeAgentSecretCurrent(db: Db, agentId: string, secretHash: Buffer, now: Date): Promise<void> {
  await db
    .insertInto('agent_secrets')
    .values({ agent_id: agentId, secret_hash: secretHash, created_at: now })
    .onConflict((oc) => oc.columns(['agent_id', 'secret_hash']).doUpdateSet({ expires_at: null }))
    .execute();
}

/** Ends every secret of the agent still valid at `until`, at `until`: the grace period of a rotation. */
export async function expireAgentSecrets(db: Db, agentId: string, until: Date): Promise<void> {
  await db
    .updateTable('agent_secrets')
    .set({ expires_at: until })
    .where('agent_id', '=', agentId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', until)]))
    .execute();
}

/**
 * Rotates the agent's current secret out: it stays valid until `until` (its grace period), and
 * every older secret, left by an earlier rotation, is deleted, so one still in its grace period
 * ends at `now`. With the secret inserted next, at most two are then valid: each authentication
 * compares against every valid one, and a client mid-rollout needs only the one it had. Nothing
 * reads a hash that can never match again, and keeping them would let an owner's rotations grow
 * the table, and every lookup of the agent's secrets, without end.
 */
export async function rotateOutAgentSecrets(db: Db, agentId: string, until: Date): Promise<void> {
  await db.deleteFrom('agent_secrets').where('agent_id', '=', agentId).where('expires_at', 'is not', null).execute();
  await db.updateTable('agent_secrets').set({ expires_at: until }).where('agent_id', '=', agentId).where('expires_at', 'is', null).execute();
}

/** The columns of an agent (`toAgent`), named, as a prepared statement must (see PREPARED_MARKER). */
const AGENT_COLUMNS = sql.raw(
  ['id', 'name', 'kind', 'description', 'status', 'suspended_by', 'allowed_scopes', 'owner_kind', 'owner_user_id', 'parent_agent_id', 'ancestor_ids', 'is_operator', 'created_at', 'expires_at', 'last_used_at']
    .map((column) => `a.${column}`)
    .join(', '),
);

/**
 * The agent a client authenticates as, with its secrets still valid at `now`, in one prepared
 * statement. The hashes are compared by the caller in constant time, never in SQL.
 */
export async function findClientCredentials(db: Db, agentId: string, now: Date): Promise<{ agent: Agent; secrets: SecretHash[] } | undefined> {
  const { rows } = await sql<Selectable<AgentsTable> & { secret_hash: Uint8Array | null; secret_expires_at: Date | null }>`${sql.raw(PREPARED_MARKER)}
    select ${AGENT_COLUMNS}, s.secret_hash, s.expires_at as secret_expires_at
    from agents a left join agent_secrets s on s.agent_id = a.id and (s.expires_at is null or s.expires_at > ${now})
    where a.id = ${agentId}`.execute(db);
  const [first] = rows;
  if (!first) return undefined;
  const { secret_hash: _, secret_expires_at: __, ...agentRow } = first;
  const secrets = rows.flatMap((row) => (row.secret_hash ? [{ hash: Buffer.from(row.secret_hash), expiresAt: row.secret_expires_at }] : []));
  return { agent: toAgent(agentRow), secrets };
}

/** The channel that announces changes to agents (see AgentCache). */
export const AGENTS_CHANNEL = 'hub_agents';

/** Tells every instance, once the transaction commits, that some agent changed (see AgentCache). */
export async function notifyAgentsChanged(db: Db): Promise<void> {
  await sql`select pg_notify(${AGENTS_CHANNEL}, '')`.execute(db);
}
