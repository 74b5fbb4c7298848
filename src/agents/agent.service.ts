import { auditCaller, auditInTransaction, type AuditEventInput } from '../audit/audit.service.js';
import { decideAgentReactivation, operatorScopeBeyond, suspensionBy } from '../authz/agent-access.js';
import type { Db } from '../db/connect.js';
import type { Listen } from '../db/notifications.js';
import type { Caller, IdentityService } from '../identity/identity.service.js';
import type { Clock } from '../shared/clock.js';
import { BadUserInputError, ForbiddenError, NotFoundError } from '../shared/errors.js';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.js';
import { createAgentAuthenticator } from './agent-authentication.js';
import { AgentCache } from './agent-cache.js';
import { generateClientSecret, hashClientSecret, type AgentCredentials } from './agent-credentials.js';
import { findActiveAgentForShare, registerAgent } from './agent-registration.js';
import { expireAgentSecrets, insertAgentSecret, notifyAgentsChanged, rotateOutAgentSecrets } from './agent-secret.queries.js';
import { gracePeriodSchema } from './agent.input.js';
import {
  findAgentForUpdate,
  findAgentsByIds,
  findLiveAgentsOwnedByWithDescendantsForUpdate,
  findLiveDescendantsForUpdate,
  listAgents,
  lockAgentsOfUser,
  updateAgentStatus,
  type Agent,
  type AgentFilter,
} from './agent.queries.js';

export { toAgent, type Agent, type AgentFilter, type AgentState } from './agent.queries.js';
export { agentState } from './agent-authentication.js';

/** What decommissioning reaches beyond the agent itself; wired in app.ts. */
export interface DecommissionEffects {
  /**
   * Withdraws every consent that names the agent; resolves to how many. `caller` is named to a
   * consent's user only when it is that user or an operator client, never as the agent's owner,
   * whom `Agent.owner` hides from them: the hub is named instead.
   */
  withdrawConsentsOfAgent(tx: Db, agentId: string, caller: Caller, now: Date): Promise<number>;
  /** Revokes every refresh token the agent holds or acts in. */
  revokeRefreshTokensOfAgent(tx: Db, agentId: string, now: Date): Promise<void>;
}

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
    /** Registers an agent with a new secret: see `registerAgent`. */
    register: (input: unknown, caller: Caller) => registerAgent(deps, input, caller),

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
