import { sql, type ExpressionBuilder, type Selectable } from 'kysely';
import type { AgentKindColumn, AgentStatusColumn, AgentsTable, Database, SuspendedByColumn } from '../db/database.js';
import type { Db } from '../db/connect.js';

/** A non-human identity as the domain sees it. Its id is its OAuth `client_id`. */
export interface Agent {
  readonly id: string;
  readonly name: string;
  readonly kind: AgentKindColumn;
  readonly description: string | null;
  /** As stored; `inactiveReason` also honours expiry. */
  readonly status: AgentStatusColumn;
  /** Whose suspension holds it, while suspended: only an operator lifts an operator's. */
  readonly suspendedBy: SuspendedByColumn | null;
  readonly allowedScopes: readonly string[];
  readonly ownerKind: 'operator' | 'user';
  readonly ownerUserId: string | null;
  readonly parentAgentId: string | null;
  /** Parent first, then its parent, …: every agent whose liveness this one depends on. */
  readonly ancestorIds: readonly string[];
  readonly isOperator: boolean;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
}

/** The one mapping from an `agents` row to an Agent. */
export function toAgent(row: Selectable<AgentsTable>): Agent {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    description: row.description,
    status: row.status,
    suspendedBy: row.suspended_by,
    allowedScopes: row.allowed_scopes,
    ownerKind: row.owner_kind,
    ownerUserId: row.owner_user_id,
    parentAgentId: row.parent_agent_id,
    ancestorIds: row.ancestor_ids,
    isOperator: row.is_operator,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
  };
}

/** The agents with these ids, in no particular order; unknown ids are left out. */
export async function findAgentsByIds(db: Db, ids: readonly string[]): Promise<Agent[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('agents').selectAll().where('id', 'in', ids).execute();
  return rows.map(toAgent);
}

/**
 * The agent locked for the rest of the transaction, so concurrent changes to it take turns. Agents
 * are changed, never deleted, nor their ids: their locks are FOR NO KEY UPDATE, which, unlike FOR
 * UPDATE, lets a row that references the agent (a refresh token, a consent) be inserted meanwhile.
 * FOR UPDATE made such an insert, holding a lock a change of the agent then waits on, deadlock
 * with it.
 */
export async function findAgentForUpdate(db: Db, id: string): Promise<Agent | undefined> {
  const row = await db.selectFrom('agents').selectAll().where('id', '=', id).forNoKeyUpdate().executeTakeFirst();
  return row && toAgent(row);
}

/**
 * The one order in which a transaction locks several agents: ancestors before descendants (by
 * depth, then id). A statement with ORDER BY … FOR NO KEY UPDATE locks its rows in that order, so
 * transactions that each lock in it never wait on each other in a cycle.
 */
const depth = sql<number>`cardinality(ancestor_ids)`;

/**
 * The agent and its ancestors, locked FOR SHARE for the rest of the transaction (root first), so
 * that no change to any of them (each locks the agent FOR NO KEY UPDATE) commits before the caller
 * does; undefined for an unknown agent. An ancestor missing from the table is left out.
 */
export async function findLineageForShare(db: Db, id: string): Promise<{ agent: Agent; ancestors: Agent[] } | undefined> {
  // ancestor_ids never changes, so reading it unlocked is safe.
  const found = await db.selectFrom('agents').select('ancestor_ids').where('id', '=', id).executeTakeFirst();
  if (!found) return undefined;
  const rows = await db.selectFrom('agents').selectAll().where('id', 'in', [id, ...found.ancestor_ids]).orderBy(depth).orderBy('id').forShare().execute();
  const lineage = rows.map(toAgent);
  const agent = lineage.find((a) => a.id === id);
  return agent && { agent, ancestors: lineage.filter((a) => a.id !== id) };
}

/** The agents descending from this one that are not decommissioned, locked for update, ancestors first. */
export async function findLiveDescendantsForUpdate(db: Db, id: string): Promise<Agent[]> {
  const rows = await db
    .selectFrom('agents')
    .selectAll()
    .where('status', '!=', 'decommissioned')
    .where('ancestor_ids', '@>', sql<string[]>`array[${id}]::text[]`)
    .orderBy(depth)
    .orderBy('id')
    .forNoKeyUpdate()
    .execute();
  return rows.map(toAgent);
}

/**
 * The agents a user owns and every agent descending from one they own, those not decommissioned,
 * locked for update in one statement, ancestors first.
 */
export async function findLiveAgentsOwnedByWithDescendantsForUpdate(db: Db, userId: string): Promise<Agent[]> {
  const rows = await db
    .selectFrom('agents')
    .selectAll()
    .where('status', '!=', 'decommissioned')
    .where((eb) => eb.or([eb('owner_user_id', '=', userId), eb('ancestor_ids', '&&', sql<string[]>`array(select id from agents where owner_user_id = ${userId})`)]))
    .orderBy(depth)
    .orderBy('id')
    .forNoKeyUpdate()
    .execute();
  return rows.map(toAgent);
}

/**
 * Locks for update, in one statement and ancestors first, every agent an erasure of the user
 * changes or could wait on: those the user owns (decommissioned ones too, whose names the erasure
 * blanks), every live agent descending from one, and every agent an active consent of the user
 * names (a decommissioning of any of them withdraws that consent).
 */
export async function lockAgentsOfUser(db: Db, userId: string): Promise<void> {
  await db
    .selectFrom('agents')
    .select('id')
    .where((eb) =>
      eb.or([
        eb('owner_user_id', '=', userId),
        eb.and([eb('status', '!=', 'decommissioned'), eb('ancestor_ids', '&&', sql<string[]>`array(select id from agents where owner_user_id = ${userId})`)]),
        eb('id', 'in', eb.selectFrom('consents').select('agent_id').where('user_id', '=', userId).where('status', '=', 'active').where('agent_id', 'is not', null).$narrowType<{ agent_id: string }>()),
      ]),
    )
    .orderBy(depth)
    .orderBy('id')
    .forNoKeyUpdate()
    .execute();
}

/**
 * Locks the owner's user row as an erasure locks it, for the rest of the transaction:
 * registrations for one owner take turns, and one racing an erasure of the owner either commits
 * first (and the erasure then finds its agent) or waits for the erasure and reads its outcome.
 */
export async function lockAgentOwner(db: Db, userId: string): Promise<void> {
  await db.selectFrom('users').select('id').where('id', '=', userId).forNoKeyUpdate().execute();
}

/**
 * Whether every user who owns one of these agents is active (neither suspended nor erased): an
 * agent acts only while its owner, and the owner of each of its ancestors, may act.
 */
export async function ownersActive(db: Db, agents: readonly Pick<Agent, 'ownerUserId'>[]): Promise<boolean> {
  const owners = [...new Set(agents.flatMap((agent) => (agent.ownerUserId ? [agent.ownerUserId] : [])))];
  if (owners.length === 0) return true;
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('id', 'in', owners)
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(row.n) === owners.length;
}

/** How many agents the user owns that are not decommissioned (suspended and expired ones too). */
export async function countLiveAgentsOwnedBy(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('agents')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('owner_user_id', '=', userId)
    .where('status', '!=', 'decommissioned')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface NewAgent {
  readonly id: string;
  readonly name: string;
  readonly kind: AgentKindColumn;
  readonly description: string | null;
  readonly allowedScopes: readonly string[];
  readonly ownerUserId: string | null;
  readonly parentAgentId: string | null;
  readonly ancestorIds?: readonly string[];
  readonly isOperator?: boolean;
  readonly expiresAt: Date | null;
  readonly now: Date;
}

/** Inserts an agent; resolves to undefined when the id is taken. */
export async function insertAgent(db: Db, agent: NewAgent): Promise<Agent | undefined> {
  const row = await db
    .insertInto('agents')
    .values({
      id: agent.id,
      name: agent.name,
      kind: agent.kind,
      description: agent.description,
      allowed_scopes: [...agent.allowedScopes],
      owner_kind: agent.ownerUserId ? 'user' : 'operator',
      owner_user_id: agent.ownerUserId,
      parent_agent_id: agent.parentAgentId,
      ancestor_ids: [...(agent.ancestorIds ?? [])],
      is_operator: agent.isOperator ?? false,
      created_at: agent.now,
      expires_at: agent.expiresAt,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toAgent(row);
}

/**
 * Sets the stored status, with `suspendedBy` saying whose suspension it is ('suspended' only); the
 * caller checks the move is allowed and audits it in the same transaction.
 */
export async function updateAgentStatus(db: Db, id: string, status: AgentStatusColumn, suspendedBy: SuspendedByColumn | null = null): Promise<Agent> {
  const row = await db.updateTable('agents').set({ status, suspended_by: status === 'suspended' ? suspendedBy : null }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  return toAgent(row);
}

/** Marks the agent as an operator console client with this ceiling. */
export async function makeOperatorClient(db: Db, id: string, allowedScopes: readonly string[]): Promise<void> {
  await db.updateTable('agents').set({ allowed_scopes: [...allowedScopes], is_operator: true }).where('id', '=', id).execute();
}

/** Sets `last_used_at` unless it is already later (two instances may report out of order). */
export async function touchAgentsLastUsed(db: Db, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('agents')
    .set({ last_used_at: at })
    .where('id', 'in', ids)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
    .execute();
}

/** The status API.md shows: the stored one, with expiry folded in (see `inactiveReason`). */
export type AgentState = 'ACTIVE' | 'SUSPENDED' | 'DECOMMISSIONED' | 'EXPIRED';

export interface AgentFilter {
  readonly status?: AgentState | null;
  readonly kind?: AgentKindColumn | null;
  readonly ownerUserId?: string | null;
  readonly parentAgentId?: string | null;
}

/** A page of agents in creation order, after the (createdAt, id) key of the previous page. */
export async function listAgents(db: Db, options: { limit: number; now: Date; after?: { createdAt: Date; id: string }; filter?: AgentFilter }): Promise<Agent[]> {
  const { filter = {}, after, now } = options;
  let query = db.selectFrom('agents').selectAll();
  const live = (eb: ExpressionBuilder<Database, 'agents'>) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]);
  if (filter.status === 'ACTIVE') query = query.where('status', '=', 'active').where(live);
  if (filter.status === 'SUSPENDED') query = query.where('status', '=', 'suspended').where(live);
  if (filter.status === 'DECOMMISSIONED') query = query.where('status', '=', 'decommissioned');
  if (filter.status === 'EXPIRED') query = query.where('status', '!=', 'decommissioned').where('expires_at', '<=', now);
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  // Any id given selects, an empty one too (which names no agent's): only one left out lists them all.
  if (filter.ownerUserId != null) query = query.where('owner_user_id', '=', filter.ownerUserId);
  if (filter.parentAgentId != null) query = query.where('parent_agent_id', '=', filter.parentAgentId);
  if (after) query = query.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after.createdAt, after.id)));
  const rows = await query.orderBy('created_at').orderBy('id').limit(options.limit).execute();
  return rows.map(toAgent);
}

/** True once any operator console client was ever created, whatever became of it. */
export async function operatorClientExists(db: Db): Promise<boolean> {
  const row = await db.selectFrom('agents').select('id').where('is_operator', '=', true).limit(1).executeTakeFirst();
  return row !== undefined;
}
