import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import { operatorScopeBeyond } from '../authz/agent-access.js';
import type { Db } from '../db/connect.js';
import type { Caller, IdentityService } from '../identity/identity.service.js';
import type { Clock } from '../shared/clock.js';
import { BadUserInputError, ForbiddenError, UnauthenticatedError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { parseInput } from '../shared/input.js';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.js';
import { inactiveReason } from './agent-authentication.js';
import { generateClientSecret, hashClientSecret, type AgentCredentials } from './agent-credentials.js';
import { insertAgentSecret } from './agent-secret.queries.js';
import { registerAgentSchema } from './agent.input.js';
import { countLiveAgentsOwnedBy, findLineageForShare, insertAgent, lockAgentOwner, ownersActive, type Agent } from './agent.queries.js';
import { ceilingProblem } from './agent.scopes.js';

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

/**
 * The agent when it and every ancestor are active at `now`, and so is every user owning one of
 * them, with that lineage locked (FOR SHARE) for the rest of the caller's transaction: no
 * suspension or decommissioning of any of them commits before the caller does. Undefined for an
 * unknown or inactive agent.
 */
export async function findActiveAgentForShare(tx: Db, id: string, now: Date): Promise<Agent | undefined> {
  return (await findActiveLineageForShare(tx, id, now))?.[0];
}

/** As `findActiveAgentForShare`, with the agent first and then its ancestors (root first). */
async function findActiveLineageForShare(tx: Db, id: string, now: Date): Promise<readonly [Agent, ...Agent[]] | undefined> {
  const lineage = await findLineageForShare(tx, id);
  if (!lineage || lineage.ancestors.length !== lineage.agent.ancestorIds.length) return undefined;
  const agents = [lineage.agent, ...lineage.ancestors] as const;
  if (!agents.every((agent) => inactiveReason(agent, now) === undefined)) return undefined;
  return (await ownersActive(tx, agents)) ? agents : undefined;
}

/** The agent of the lineage that expires first, with its expiry; undefined when none expires. */
function firstToExpire(lineage: readonly Agent[]): { id: string; expiresAt: Date } | undefined {
  let first: { id: string; expiresAt: Date } | undefined;
  for (const { id, expiresAt } of lineage) if (expiresAt && (!first || expiresAt < first.expiresAt)) first = { id, expiresAt };
  return first;
}

/**
 * Registers an agent with a new secret. The owner is the user named, or the calling user; an
 * operator registers agents owned by no user. Who may register is decided in src/authz.
 * @throws BadUserInputError for a bad field, an unknown owner, an owner at MAX_AGENTS_PER_OWNER,
 *   an inactive parent, an expiry absent or later than an ancestor's, or a ceiling beyond the
 *   grammar, the owner's kind or the parent's ceiling; ForbiddenError MISSING_SCOPE for an
 *   operator scope the calling client does not hold (`operatorScopeBeyond`); UnauthenticatedError
 *   when the calling user was erased or suspended since the token check.
 */
export async function registerAgent(
  deps: { db: Db; clock: Clock; identity: Pick<IdentityService, 'findActiveUser'> },
  input: unknown,
  caller: Caller,
): Promise<AgentCredentials> {
  const parsed = parseInput(registerAgentSchema, input);
  const beyond = operatorScopeBeyond(caller.principal, parsed.allowedScopes);
  if (beyond) throw new ForbiddenError('MISSING_SCOPE', `${beyond} is an operator scope this client does not hold, so it cannot grant it`);
  const now = deps.clock.now();
  const ownerUserId = parsed.ownerUserId ?? (caller.principal.kind === 'user' ? caller.principal.userId : null);
  if (parsed.expiresAt && parsed.expiresAt <= now) throw new BadUserInputError('input.expiresAt', 'must be in the future');
  return deps.db.transaction().execute(async (tx) => {
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
    const lineage = parsed.parentAgentId ? await findActiveLineageForShare(tx, parsed.parentAgentId, now) : undefined;
    if (parsed.parentAgentId && !lineage) throw new BadUserInputError('input.parentAgentId', 'is not an active agent, or an agent it descends from is not');
    const parent = lineage?.[0];
    if (parent && parent.ancestorIds.length + 2 > MAX_AGENT_LINEAGE) {
      throw new BadUserInputError('input.parentAgentId', `is ${parent.ancestorIds.length + 1} agents deep: a lineage holds at most ${MAX_AGENT_LINEAGE}`);
    }
    // For the same reason, past the first ancestor's expiry the sub-agent could not act, yet it
    // would still read ACTIVE and escape the access review's expiry findings.
    const expiring = lineage && firstToExpire(lineage);
    if (expiring && !(parsed.expiresAt && parsed.expiresAt <= expiring.expiresAt)) {
      throw new BadUserInputError('input.expiresAt', `must be set, and no later than ${expiring.expiresAt.toISOString()}, when ${expiring.id}, an agent it descends from, expires`);
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
    const detail = { agentId: agent.id, allowedScopes: agent.allowedScopes, parentAgentId: agent.parentAgentId };
    await auditInTransaction(tx, { action: 'agent.registered', ...auditCaller(caller.principal, caller.requestId), subjectUserId: ownerUserId, decision: 'ALLOW', detail }, now);
    await enqueueWebhookEvent(tx, { type: 'agent.registered', data: { agentId: agent.id, kind: agent.kind.toUpperCase(), ownerUserId, parentAgentId: agent.parentAgentId } }, now);
    return { agent, clientSecret };
  });
}
