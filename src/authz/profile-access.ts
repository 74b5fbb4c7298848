import type { ForbiddenReason } from '../shared/errors.js';
import type { FilterDecision } from './audience-access.js';
import { decideDelegatedField } from './delegation.js';
import { hasScope, type GrantState, type OperatorScope, type Principal } from './principal.js';
import { scopesCover, type Access, type FieldRef, type FilterRead } from './scopes.js';

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: ForbiddenReason };

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/**
 * May this caller reach this user's record at all? The user themself, an agent whose token's
 * `sub` is this user, or an operator client with `users:admin`. Never throws.
 */
export function decideSubject(principal: Principal, userId: string): Decision {
  switch (principal.kind) {
    case 'anonymous':
      return deny('MISSING_SCOPE');
    case 'user':
    case 'delegated':
      return principal.userId === userId ? ALLOW : deny('NOT_SUBJECT');
    case 'client':
      return hasScope(principal, 'users:admin') ? ALLOW : deny('NOT_SUBJECT');
  }
}

/**
 * The per-field decision for one profile field of one user: the caller must reach the user and
 * its token's scopes must cover the field. Never throws.
 */
export function decideField(principal: Principal, userId: string, ref: FieldRef, access: Access = 'read'): Decision {
  const subject = decideSubject(principal, userId);
  if (!subject.allowed) return subject;
  if (principal.kind === 'anonymous' || !scopesCover(principal.scopes, ref, access)) return deny('MISSING_SCOPE');
  return ALLOW;
}

/**
 * May this caller list this user's own records (consents, connected agents, approvals), which no
 * data scope covers and no agent is delegated? The user signed in themself (NOT_SUBJECT for
 * another user or an agent, even one acting for them, as for a data subject's request), or an
 * operator client holding `operator` (MISSING_SCOPE). Never throws.
 */
export function decideUserRecords(principal: Principal, userId: string, operator: OperatorScope): Decision {
  switch (principal.kind) {
    case 'user':
      return principal.userId === userId ? ALLOW : deny('NOT_SUBJECT');
    case 'delegated':
      return deny('NOT_SUBJECT');
    default:
      return hasScope(principal, operator) ? ALLOW : deny('MISSING_SCOPE');
  }
}

/**
 * May this caller list users by these filter keys? A key that selects on a field tells what the
 * field holds as surely as showing it would (repeated per value, it answers for every user), so
 * each must pass the per-field decision for the field it reads. The list is an operator's
 * (`users:admin`), who reaches every user, so what is left of that decision is the token's scopes
 * covering the field (MISSING_SCOPE). Keys are decided in the order given; the first refused is
 * the answer. Never throws.
 */
export function decideUserFilter(principal: Principal, reads: readonly FilterRead[]): FilterDecision {
  for (const { key, ref } of reads) {
    if (principal.kind === 'anonymous' || !scopesCover(principal.scopes, ref, 'read')) return Object.freeze({ allowed: false, reason: 'MISSING_SCOPE', key, ref });
  }
  return { allowed: true };
}

/** Where the user list sets `createdAt`, the field the oldest-first order reads. */
const SIGNED_UP: FieldRef = Object.freeze({ category: 'profile', field: 'createdAt' });

/**
 * The order the user list shows this caller in: the oldest first for a token whose scopes cover
 * `createdAt` (`profile:read`, `profile.createdAt:read`); else by id, which is random
 * (src/shared/ids.ts), since the place of a user in the oldest-first order, and the users a page
 * after them holds, tell when they signed up as a filter on the field would. Never throws.
 */
export function userListOrder(principal: Principal): 'createdAt' | 'id' {
  return principal.kind !== 'anonymous' && scopesCover(principal.scopes, SIGNED_UP, 'read') ? 'createdAt' : 'id';
}

/** The state of a delegation no one has read: decides like a token with no consent behind it. */
const NO_GRANT: GrantState = Object.freeze({ agentsLive: false, consent: null, purposeCategories: null });

/**
 * May this caller change these fields of its own profile? Only a user, or an agent acting for
 * one, writes, and only to that user's profile (NOT_SUBJECT for anyone else, operators included).
 * A write must name at least one field: no scope covers an update of nothing, so an empty one is
 * MISSING_SCOPE for a user and an agent alike, never an allow by default. A user needs the write
 * scope of every field (MISSING_SCOPE). An agent acting for a user needs, for every field, what
 * a read needs, in write mode: `decideDelegatedField` with the request's `grant` (token scope,
 * live consent with the scope, every agent of the chain active, the purpose covering the field
 * now). Fields are decided in the order given; the first refusal names the reason. A delegated
 * caller without a `grant` is decided as one with no consent. Pure. Never throws.
 */
export function decideWrite(principal: Principal, refs: readonly FieldRef[], grant: GrantState | null): Decision {
  if (principal.kind !== 'user' && principal.kind !== 'delegated') return deny('NOT_SUBJECT');
  if (refs.length === 0) return deny('MISSING_SCOPE');
  for (const ref of refs) {
    const decision =
      principal.kind === 'delegated'
        ? decideDelegatedField(principal, grant ?? NO_GRANT, principal.userId, ref, 'write')
        : scopesCover(principal.scopes, ref, 'write') ? ALLOW : deny('MISSING_SCOPE');
    if (!decision.allowed) return decision;
  }
  return ALLOW;
}
