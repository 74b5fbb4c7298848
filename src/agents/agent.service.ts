import { auditCaller, auditInTransaction, type AuditEventInput } from '../audit/audit.service.js';
import { decideAgentReactivation, operatorScopeBeyond, suspensionBy } from '../authz/agent-access.js';
import type { Db } from '../db/connect.js';
import type { Caller, IdentityService } from '../identity/identity.service.js';
import type { Clock } from '../shared/clock.js';
import { BadUserInputError, ForbiddenError, NotFoundError, UnauthenticatedError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { parseInput } from '../shared/input.js';
import type { Listen } from '../db/notifications.js';
import { createAgentAuthenticator, inactiveReason } from './agent-authentication.js';
import { AgentCache } from './agent-cache.js';
import { expireAgentSecrets, insertAgentSecret, notifyAgentsChanged, rotateOutAgentSecrets } from './agent-secret.queries.js';
import { generateClientSecret, hashClientSecret } from './agent-credentials.js';
import { gracePeriodSchema, registerAgentSchema } from './agent.input.js';
import {
  countLiveAgentsOwnedBy,
  findAgentForUpdate,
  findAgentsByIds,
  findLineageForShare,
  findLiveAgentsOwnedByWithDescendantsForUpdate,
  findLiveDescendantsForUpdate,
  insertAgent,
  listAgents,
  lockAgentOwner,
  lockAgentsOfUser,
  updateAgentStatus,
  type Agent,
  type AgentFilter,
} from './agent.queries.js';
import { ceilingProblem } from './agent.scopes.js';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.js';

export type { Agent, AgentFilter, AgentState } from './agent.queries.js';
export type { ClientAuthentication } from './agent-authentication.js';

/** An agent with a secret just made: the only moment the secret exists outside its holder. */
export interface AgentCredentials {
  readonly agent: Agent;
  readonly clientSecret: string;
}

/** What decommissioning reaches beyond the agent itself; wired in app.ts. */
export interface DecommissionEffects {
  /** Withdraws every consent that names the agent; resolves to how many. */
  withdrawConsentsOfAgent(tx: Db, agentId: string, caller: Caller, now: Date): Promise<number>;
  /** Revokes every refresh token the agent holds or acts in. */
  revokeRefreshTokensOfAgent(tx: Db, agentId: string, now: Date): Promise<void>;
}

/** Active now: neither suspended nor decommissioned, and not past its expiry. */
export function isAgentActive(agent: Pick<Agent, 'status' | 'expiresAt'>, now: Date): boolean {
  return inactiveReason(agent, now) === undefined;
}

/**
 * Most agents one user may own that are not decommissioned. Each is a row the access review,
 * webhooks and an erasure of the user go through; operators' agents are not counted.
 */
export const MAX_AGENTS_PER_OWNER = 25;
/**
 * Most agents in a lineage, the agent and its ancestors: every token check of a sub-agent reads
 * them all, and an operator's agents count toward no cap that would bound it otherwise.
 */
export const MAX_AGENT_LINEAGE = 8;

export type AgentService = ReturnType<typeof createAgentService>;

/**
 * Agents' lifecycle and credentials. Every change is audited in its own transaction, and every
 * change to an existing agent is announced (NOTIFY) to the client caches of every instance.
 * @param deps.listen LISTEN on the database; without it client records are never cached.
 */
export function createAgentService(deps: {
  db: Db;
  clock: Clock;
  identity: Pick<IdentityService, 'findActiveUser'>;
  effects: DecommissionEffects;
  listen?: Listen;
}) {
  const { db, clock } = deps;
  const cache = new AgentCache(deps.listen);

  /** Runs a change to existing agents in a transaction that announces it, and clears this instance's cache once it commits. */
  async function change<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    const result = await db.transaction().execute(async (tx) => {
      const value = await work(tx);
      await notifyAgentsChanged(tx);
      return value;
    });
    cache.clear();
    return result;
  }
  const event = (action: AuditEventInput['action'], caller: Caller, agent: Agent, detail: Record<string, unknown> = {}): AuditEventInput => ({
    action,
    ...auditCaller(caller.principal, caller.requestId),
    subjectUserId: agent.ownerUserId,
    decision: 'ALLOW',
    detail: { agentId: agent.id, ...detail },
  });

  /**
   * Locks the agent and refuses a caller without every operator scope it holds (see
   * `operatorScopeBeyond`).
   * @throws NotFoundError; ForbiddenError MISSING_SCOPE.
   */
  async function lockManageable(tx: Db, id: string, caller: Caller): Promise<Agent> {
    const agent = await findAgentForUpdate(tx, id);
    if (!agent) throw new NotFoundError('Agent');
    const beyond = operatorScopeBeyond(caller.principal, agent.allowedScopes);
    if (beyond) throw new ForbiddenError('MISSING_SCOPE', `The agent holds ${beyond}: only a client holding every operator scope of an agent manages it`);
    return agent;
  }

  /** `lockManageable`, refusing a change to a decommissioned agent. */
  async function lockChangeable(tx: Db, id: string, caller: Caller): Promise<Agent> {
    const agent = await lockManageable(tx, id, caller);
    if (agent.status === 'decommissioned') throw new BadUserInputError('id', 'the agent is decommissioned, which is permanent');
    return agent;
  }

  /**
   * Decommissions agents the transaction has locked and that are not decommissioned yet, in the
   * order given, each audited and announced as its own decommissioning. An agent that goes
   * because an ancestor goes (one of `agents`, or of `endedAncestorIds`) names the nearest such
   * ancestor in its audit detail.
   */
  async function decommissionLocked(tx: Db, agents: readonly Agent[], caller: Caller, now: Date, endedAncestorIds: readonly string[] = []): Promise<Agent[]> {
    const ended = new Set([...endedAncestorIds, ...agents.map((agent) => agent.id)]);
    const decommissioned: Agent[] = [];
    for (const agent of agents) {
      const updated = await updateAgentStatus(tx, agent.id, 'decommissioned');
      await expireAgentSecrets(tx, agent.id, now);
      const withdrawn = await deps.effects.withdrawConsentsOfAgent(tx, agent.id, caller, now);
      await deps.effects.revokeRefreshTokensOfAgent(tx, agent.id, now);
      const ancestorDecommissioned = agent.ancestorIds.find((id) => ended.has(id));
      await auditInTransaction(tx, event('agent.decommissioned', caller, updated, { consentsWithdrawn: withdrawn, ...(ancestorDecommissioned && { ancestorDecommissioned }) }), now);
      await enqueueWebhookEvent(tx, { type: 'agent.decommissioned', data: { agentId: agent.id, ownerUserId: updated.ownerUserId } }, now);
      decommissioned.push(updated);
    }
    return decommissioned;
  }

  /**
   * The agent when it and every ancestor are active at `now`, with that lineage locked (FOR
   * SHARE) for the rest of the caller's transaction: no suspension or decommissioning of any
   * of them commits before the caller does. Undefined for an unknown or inactive agent.
   */
  async function findActiveAgentForShare(tx: Db, id: string, now: Date): Promise<Agent | undefined> {
    const lineage = await findLineageForShare(tx, id);
    if (!lineage || lineage.ancestors.length !== lineage.agent.ancestorIds.length) return undefined;
    return [lineage.agent, ...lineage.ancestors].every((agent) => isAgentActive(agent, now)) ? lineage.agent : undefined;
  }

  /**
   * Moves an agent between active and suspended; a move to where it already is changes nothing,
   * except that an operator's suspension of an agent its owner suspended makes it the operator's.
   * @throws ForbiddenError MISSING_SCOPE when the owner would lift an operator's suspension, or as
   *   `lockManageable` refuses.
   */
  function setStatus(id: string, to: 'active' | 'suspended', caller: Caller): Promise<Agent> {
    return change(async (tx) => {
      const agent = await lockChangeable(tx, id, caller);
      const by = suspensionBy(caller.principal);
      if (to === 'active') {
        if (agent.status === 'active') return agent;
        const decision = decideAgentReactivation(caller.principal, agent);
        if (!decision.allowed) throw new ForbiddenError(decision.reason, 'An operator suspended this agent: only an operator with agents:admin may reactivate it');
      } else if (agent.status === 'suspended' && (agent.suspendedBy === 'operator' || by === 'owner')) {
        return agent;
      }
      const updated = await updateAgentStatus(tx, id, to, by);
      await auditInTransaction(tx, event(to === 'active' ? 'agent.reactivated' : 'agent.suspended', caller, updated), clock.now());
      await enqueueWebhookEvent(tx, { type: to === 'active' ? 'agent.reactivated' : 'agent.suspended', data: { agentId: id, ownerUserId: updated.ownerUserId } }, clock.now());
      return updated;
    });
  }

  return {
    /**
     * Registers an agent with a new secret. The owner is the user named, or the calling user; an
     * operator registers agents owned by no user. Who may register is decided in src/authz.
     * @throws BadUserInputError for a bad field, an unknown owner, an owner at MAX_AGENTS_PER_OWNER,
     *   an inactive parent or a ceiling beyond the grammar, the owner's kind or the parent's
     *   ceiling; ForbiddenError MISSING_SCOPE for an operator scope the calling client does not
     *   hold (`operatorScopeBeyond`); UnauthenticatedError when the calling user was erased or
     *   suspended since the token check.
     */
    async register(input: unknown, caller: Caller): Promise<AgentCredentials> {
      const parsed = parseInput(registerAgentSchema, input);
      const beyond = operatorScopeBeyond(caller.principal, parsed.allowedScopes);
      if (beyond) throw new ForbiddenError('MISSING_SCOPE', `${beyond} is an operator scope this client does not hold, so it cannot grant it`);
      const now = clock.now();
      const ownerUserId = parsed.ownerUserId ?? (caller.principal.kind === 'user' ? caller.principal.userId : null);
      if (parsed.expiresAt && parsed.expiresAt <= now) throw new BadUserInputError('input.expiresAt', 'must be in the future');
      return db.transaction().execute(async (tx) => {
        if (ownerUserId) {
          // Read after the lock an erasure also takes, so an agent registered after it never acts
          // for nobody; the same lock makes one owner's registrations take turns for the count.
          await lockAgentOwner(tx, ownerUserId);
          if (!(await deps.identity.findActiveUser(tx, ownerUserId))) {
            if (caller.principal.kind === 'user' && caller.principal.userId === ownerUserId) throw new UnauthenticatedError('The user is no longer active');
            throw new BadUserInputError('input.ownerUserId', 'is not an active user');
          }
          if ((await countLiveAgentsOwnedBy(tx, ownerUserId)) >= MAX_AGENTS_PER_OWNER) {
            throw new BadUserInputError('input.ownerUserId', `a user may own at most ${MAX_AGENTS_PER_OWNER} agents that are not decommissioned; decommission one first`);
          }
        }
        // The parent's lineage locked: decommissioning any of it either waits for this agent and
        // ends it too, or commits first and is seen here. The whole lineage must be active, as
        // for a consent: under a suspended or expired ancestor the sub-agent could not act.
        const parent = parsed.parentAgentId ? await findActiveAgentForShare(tx, parsed.parentAgentId, now) : undefined;
        if (parsed.parentAgentId && !parent) throw new BadUserInputError('input.parentAgentId', 'is not an active agent, or an agent it descends from is not');
        if (parent && parent.ancestorIds.length + 2 > MAX_AGENT_LINEAGE) {
          throw new BadUserInputError('input.parentAgentId', `is ${parent.ancestorIds.length + 1} agents deep: a lineage holds at most ${MAX_AGENT_LINEAGE}`);
        }
        const problem = ceilingProblem(parsed.allowedScopes, { userOwned: ownerUserId !== null, ...(parent && { parentCeiling: parent.allowedScopes }) });
        if (problem) throw new BadUserInputError('input.allowedScopes', problem);
        const agent = await insertAgent(tx, {
          id: newId('agt'),
          name: parsed.name,
          kind: parsed.kind,
          description: parsed.description ?? null,
          allowedScopes: parsed.allowedScopes,
          ownerUserId,
          parentAgentId: parent?.id ?? null,
          ancestorIds: parent ? [parent.id, ...parent.ancestorIds] : [],
          expiresAt: parsed.expiresAt ?? null,
          now,
        });
        if (!agent) throw new Error('agent id collision');
        const clientSecret = generateClientSecret();
        await insertAgentSecret(tx, agent.id, hashClientSecret(clientSecret), now);
        await auditInTransaction(tx, event('agent.registered', caller, agent, { allowedScopes: agent.allowedScopes, parentAgentId: agent.parentAgentId }), now);
        await enqueueWebhookEvent(tx, { type: 'agent.registered', data: { agentId: agent.id, kind: agent.kind.toUpperCase(), ownerUserId, parentAgentId: agent.parentAgentId } }, now);
        return { agent, clientSecret };
      });
    },

    /**
     * A new secret for the agent. The secret it replaces keeps working for `gracePeriodSeconds`
     * (default 0: at once, the safe answer to a leaked secret), then stops; any older one still in
     * the grace period of an earlier rotation stops at once.
     * @throws NotFoundError, BadUserInputError for a decommissioned agent or a bad grace period,
     *   ForbiddenError MISSING_SCOPE as `lockManageable` refuses.
     */
    async rotateSecret(id: string, gracePeriodSeconds: number | null | undefined, caller: Caller): Promise<AgentCredentials> {
      const parsedGrace = gracePeriodSchema.safeParse(gracePeriodSeconds);
      if (!parsedGrace.success) throw new BadUserInputError('gracePeriodSeconds', parsedGrace.error.issues[0]!.message);
      const grace = parsedGrace.data;
      return change(async (tx) => {
        const agent = await lockChangeable(tx, id, caller);
        const now = clock.now();
        await rotateOutAgentSecrets(tx, id, new Date(now.getTime() + grace * 1_000));
        const clientSecret = generateClientSecret();
        await insertAgentSecret(tx, id, hashClientSecret(clientSecret), now);
        await auditInTransaction(tx, event('agent.secret_rotated', caller, agent, { gracePeriodSeconds: grace }), now);
        return { agent, clientSecret };
      });
    },

    suspend: (id: string, caller: Caller) => setStatus(id, 'suspended', caller),

    /** Lifts a suspension; an agent past its expiry stays expired. */
    reactivate: (id: string, caller: Caller) => setStatus(id, 'active', caller),

    /**
     * Ends the agent for good, and with it every agent descending from it, since a sub-agent can
     * never act again once an ancestor cannot: their secrets stop, every consent naming any of
     * them is withdrawn, every refresh token they hold or act in is revoked, and their access
     * tokens are refused from the next request on (their agents are checked per request).
     * Decommissioning a decommissioned agent changes nothing, except that it ends any descendant
     * still live (one left by a decommissioning from before descendants went with their ancestor).
     */
    async decommission(id: string, caller: Caller): Promise<Agent> {
      return change(async (tx) => {
        // The agent first, then (a fresh statement, which sees sub-agents registered before the
        // lock was granted) its descendants: ancestors before descendants, as every path locks.
        const agent = await lockManageable(tx, id, caller);
        const descendants = await findLiveDescendantsForUpdate(tx, agent.id);
        const now = clock.now();
        if (agent.status === 'decommissioned') {
          await decommissionLocked(tx, descendants, caller, now, [agent.id]);
          return agent;
        }
        const [decommissioned] = await decommissionLocked(tx, [agent, ...descendants], caller, now);
        return decommissioned!;
      });
    },

    findActiveAgentForShare,

    /**
     * Locks, in the caller's transaction, every agent an erasure of the user changes or could
     * wait on (see `lockAgentsOfUser`), in the one order of agent locks. An erasure takes it
     * before any consent, refresh token or audit chain of the user, as decommissioning takes its
     * agents before theirs: the two then take turns instead of deadlocking.
     */
    lockAgentsOfUser: (tx: Db, userId: string) => lockAgentsOfUser(tx, userId),

    /**
     * Decommissions, in the caller's transaction, every agent the user owns that is not already,
     * and every live agent descending from one: an erased person's agents act for nobody. Other
     * instances drop their cached clients on the NOTIFY sent at commit. Resolves to how many.
     */
    async decommissionOwnedBy(tx: Db, userId: string, caller: Caller, now: Date): Promise<number> {
      const agents = await findLiveAgentsOwnedByWithDescendantsForUpdate(tx, userId);
      await decommissionLocked(tx, agents, caller, now);
      if (agents.length > 0) await notifyAgentsChanged(tx);
      return agents.length;
    },

    /** Checks a client's id and secret and that it (and every ancestor) is active. Never throws for bad credentials. */
    authenticateClient: createAgentAuthenticator({ db, clock, cache }),

    findAgents: (db: Db, ids: readonly string[]) => findAgentsByIds(db, ids),

    /** A page of agents in creation order; a `status` filter folds expiry in, as `Agent.status` does. */
    list: (db: Db, options: { limit: number; after?: { createdAt: Date; id: string }; filter?: AgentFilter }) => listAgents(db, { ...options, now: clock.now() }),
  };
}
