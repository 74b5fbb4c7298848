import type { Db } from '../db/connect.js';
import type { Clock } from '../shared/clock.js';
import type { AgentCache, ClientRecord } from './agent-cache.js';
import { findClientCredentials } from './agent-secret.queries.js';
import { secretMatches } from './agent-credentials.js';
import { findAgentsByIds, ownersActive, touchAgentsLastUsed, type Agent, type AgentState } from './agent.queries.js';

/** Why a client was not authenticated; for the audit trail only, never for the client. */
export type ClientRefusal = 'unknown client' | 'wrong secret' | 'agent suspended' | 'agent decommissioned' | 'agent expired' | 'parent agent not active' | 'agent owner not active';

export type ClientAuthentication = { readonly ok: true; readonly agent: Agent } | { readonly ok: false; readonly reason: ClientRefusal };

/** `last_used_at` is written at most this often per agent and instance: it is for access reviews, not billing. */
const LAST_USED_EVERY_MS = 60_000;
/** The longest client id there is: longer ones are refused before any lookup. */
export const MAX_CLIENT_ID_LENGTH = 128;

/** Why this agent cannot act now; undefined when it can. */
export function inactiveReason(agent: Pick<Agent, 'status' | 'expiresAt'>, now: Date): 'agent suspended' | 'agent decommissioned' | 'agent expired' | undefined {
  if (agent.status === 'decommissioned') return 'agent decommissioned';
  if (agent.expiresAt !== null && agent.expiresAt <= now) return 'agent expired';
  if (agent.status === 'suspended') return 'agent suspended';
  return undefined;
}

const STATES = { 'agent decommissioned': 'DECOMMISSIONED', 'agent expired': 'EXPIRED', 'agent suspended': 'SUSPENDED' } as const;

/** The status API.md shows (`Agent.status`, and a person's export): EXPIRED from `expiresAt` on, suspended or not, unless decommissioned. */
export function agentState(agent: Pick<Agent, 'status' | 'expiresAt'>, now: Date): AgentState {
  const reason = inactiveReason(agent, now);
  return reason ? STATES[reason] : 'ACTIVE';
}

/**
 * Checks a client's id and secret, then its state: it and every ancestor must be active now, as
 * must the user owning any of them, and the secret still valid. An unknown id takes the same path
 * as a wrong secret. Records are read through the AgentCache. Records `last_used_at`. Never
 * throws for bad credentials.
 */
export function createAgentAuthenticator(deps: { db: Db; clock: Clock; cache: AgentCache }) {
  const lastWritten = new Map<string, number>();

  async function load(agentId: string, now: Date): Promise<ClientRecord | undefined> {
    const found = await findClientCredentials(deps.db, agentId, now);
    if (!found) return undefined;
    const ancestors = found.agent.ancestorIds.length > 0 ? await findAgentsByIds(deps.db, found.agent.ancestorIds) : [];
    return { ...found, ancestors };
  }

  async function touch(agentId: string, now: Date): Promise<void> {
    const last = lastWritten.get(agentId);
    if (last !== undefined && now.getTime() - last < LAST_USED_EVERY_MS) return;
    if (lastWritten.size > 10_000) lastWritten.clear();
    lastWritten.set(agentId, now.getTime());
    await touchAgentsLastUsed(deps.db, [agentId], now);
  }

  return async function authenticateClient(clientId: string, secret: string): Promise<ClientAuthentication> {
    const now = deps.clock.now();
    const record = clientId.length <= MAX_CLIENT_ID_LENGTH ? await deps.cache.get(clientId, () => load(clientId, now)) : undefined;
    const valid = (record?.secrets ?? []).filter((s) => s.expiresAt === null || s.expiresAt > now).map((s) => s.hash);
    const matches = secretMatches(valid, secret);
    if (!record) return { ok: false, reason: 'unknown client' };
    if (!matches) return { ok: false, reason: 'wrong secret' };
    const inactive = inactiveReason(record.agent, now);
    if (inactive) return { ok: false, reason: inactive };
    const ancestorsLive = record.ancestors.length === record.agent.ancestorIds.length && record.ancestors.every((a) => !inactiveReason(a, now));
    if (!ancestorsLive) return { ok: false, reason: 'parent agent not active' };
    // Read each time, never cached: a suspension is seen on the very next request, with no
    // notification to wait for. Agents no user owns (an operator's) cost no read.
    if (!(await ownersActive(deps.db, [record.agent, ...record.ancestors]))) return { ok: false, reason: 'agent owner not active' };
    await touch(record.agent.id, now);
    return { ok: true, agent: record.agent };
  };
}
