import { categoryOf, isDataScope, readNeedsScope, scopesCover, type Access, type FieldRef } from '../authz/scopes.js';
import { utcDate } from '../shared/calendar.js';
import { inactiveReason } from './agent-authentication.js';
import type { AgentFacts } from './access-review.queries.js';
import type { Agent } from './agent.queries.js';

/** The kinds of finding, most urgent first: the order findings are listed in. */
export const FINDING_KINDS = ['CONSENT_TO_INACTIVE_AGENT', 'CREDENTIAL_PAST_ROTATION', 'OVER_PRIVILEGED', 'UNUSED', 'EXPIRING_SOON'] as const;

export type AccessFindingKind = (typeof FINDING_KINDS)[number];

/** One thing an access review found about one agent, and why. */
export interface AccessFinding {
  readonly kind: AccessFindingKind;
  readonly agent: Agent;
  /** Why, in words an operator can act on. */
  readonly reason: string;
  /** OVER_PRIVILEGED: the data scopes granted and not used in the window; otherwise empty. */
  readonly scopes: readonly string[];
  /** CONSENT_TO_INACTIVE_AGENT: how many consents in force name the agent; otherwise 0. */
  readonly consentCount: number;
  /** The date behind it: last activity, the secret's creation, or the expiry. */
  readonly at: Date | null;
}

/** The moments a review compares against, all derived from one `now`. */
export interface ReviewPolicy {
  readonly now: Date;
  /** Start of the window: unused since then is unused. */
  readonly since: Date;
  readonly unusedForDays: number;
  /** A secret made before this is due for rotation. */
  readonly rotateBefore: Date;
  readonly rotationAgeDays: number;
  /** An expiry before this is soon. */
  readonly expiringBy: Date;
}

const DAY_MS = 86_400_000;
const daysBetween = (from: Date, to: Date) => Math.floor((to.getTime() - from.getTime()) / DAY_MS);

/** Which granted data scopes an agent used: the ones some field it read or changed falls under. */
export interface ScopeUse {
  readonly used: readonly string[];
  readonly unused: readonly string[];
}

/**
 * A function from an agent's facts to the data scopes granted (in its ceiling or by a consent in
 * force) that the window used, and those it did not. A field falls under a scope as
 * src/authz/scopes.ts decides; the answers are kept for the life of the function (one review),
 * since a register repeats the same few scopes and fields across thousands of agents.
 */
export function createScopeUse(): (facts: AgentFacts) => ScopeUse {
  const dataScope = new Map<string, boolean>();
  const covers = new Map<string, boolean>();
  const isData = (scope: string) => dataScope.get(scope) ?? dataScope.set(scope, isDataScope(scope)).get(scope)!;
  const covered = (scope: string, ref: FieldRef, access: Access) => {
    const key = `${scope}\u0000${ref.field}\u0000${access}`;
    return covers.get(key) ?? covers.set(key, scopesCover(new Set([scope]), ref, access)).get(key)!;
  };
  return (facts) => {
    const granted = [...new Set([...facts.agent.allowedScopes, ...facts.consentScopes])].filter(isData).sort();
    const refs = [...fieldRefs(facts.fieldsRead, 'read'), ...fieldRefs(facts.fieldsWritten, 'write')];
    const usedBy = (scope: string) => refs.some(({ ref, access }) => covered(scope, ref, access));
    return { used: granted.filter(usedBy), unused: granted.filter((scope) => !usedBy(scope)) };
  };
}

function fieldRefs(fields: readonly string[], access: Access): { ref: FieldRef; access: Access }[] {
  return fields.flatMap((field) => {
    if (access === 'read' && !readNeedsScope(field)) return [];
    const category = categoryOf(field);
    return category ? [{ ref: { category, field }, access }] : [];
  });
}

/** Why the agent or one of its ancestors cannot act now (it, or the user owning it); undefined when all can. */
function lineageProblem(facts: AgentFacts, byId: ReadonlyMap<string, AgentFacts>, now: Date): string | undefined {
  const own = inactiveReason(facts.agent, now);
  if (own) return `the agent is ${own.replace('agent ', '')}`;
  if (ownerInactive(facts)) return `its owner ${facts.agent.ownerUserId} is ${facts.ownerStatus}`;
  for (const id of facts.agent.ancestorIds) {
    const ancestor = byId.get(id);
    if (!ancestor) return `its ancestor ${id} is missing`;
    const reason = inactiveReason(ancestor.agent, now);
    if (reason) return `its ancestor ${id} is ${reason.replace('agent ', '')}`;
    if (ownerInactive(ancestor)) return `the owner of its ancestor ${id} is ${ancestor.ownerStatus}`;
  }
  return undefined;
}

/** An agent acts only while the user owning it (if any) is active: see `ownersActive`. */
const ownerInactive = (facts: AgentFacts) => facts.ownerStatus !== null && facts.ownerStatus !== 'active';

/**
 * Every finding about one agent. A decommissioned agent is past reviewing, except for consents
 * still naming it; an expired one only for those; an agent unused in the window is reported as
 * unused rather than as over-privileged, which would list every scope it holds. Pure; never throws.
 */
export function findingsOf(facts: AgentFacts, use: ScopeUse, byId: ReadonlyMap<string, AgentFacts>, policy: ReviewPolicy): AccessFinding[] {
  const { agent } = facts;
  const { now } = policy;
  const found: AccessFinding[] = [];
  const add = (kind: AccessFindingKind, reason: string, at: Date | null, extra: Partial<Pick<AccessFinding, 'scopes' | 'consentCount'>> = {}) =>
    found.push({ kind, agent, reason, at, scopes: extra.scopes ?? [], consentCount: extra.consentCount ?? 0 });

  const problem = lineageProblem(facts, byId, now);
  if (facts.liveConsents > 0 && problem) {
    add('CONSENT_TO_INACTIVE_AGENT', `${facts.liveConsents} consent(s) in force name it, but ${problem}`, null, { consentCount: facts.liveConsents });
  }
  const own = inactiveReason(agent, now);
  if (own === 'agent decommissioned' || own === 'agent expired') return found;

  if (facts.oldestSecretAt && facts.oldestSecretAt <= policy.rotateBefore) {
    const age = daysBetween(facts.oldestSecretAt, now);
    add('CREDENTIAL_PAST_ROTATION', `a client secret still valid is ${age} days old (made ${utcDate(facts.oldestSecretAt)}); rotate secrets every ${policy.rotationAgeDays} days`, facts.oldestSecretAt);
  }
  const active = facts.lastActiveAt !== null && facts.lastActiveAt >= policy.since;
  if (!active && agent.createdAt < policy.since) {
    const reason = facts.lastActiveAt
      ? `not used for ${daysBetween(facts.lastActiveAt, now)} days (last used ${utcDate(facts.lastActiveAt)})`
      : `never used since it was registered ${daysBetween(agent.createdAt, now)} days ago (${utcDate(agent.createdAt)})`;
    add('UNUSED', `${reason}; the limit is ${policy.unusedForDays} days`, facts.lastActiveAt);
  }
  if (active) {
    const { unused } = use;
    if (unused.length > 0) add('OVER_PRIVILEGED', `granted but not used in the last ${policy.unusedForDays} days: ${unused.join(', ')}`, facts.lastActiveAt, { scopes: unused });
  }
  if (agent.expiresAt && agent.expiresAt <= policy.expiringBy) {
    add('EXPIRING_SOON', `expires on ${utcDate(agent.expiresAt)}, in ${Math.max(0, daysBetween(now, agent.expiresAt))} days`, agent.expiresAt);
  }
  return found;
}
