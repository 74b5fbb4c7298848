import type { ForbiddenReason } from '../shared/errors.js';
import { hasScope, type Principal } from './principal.js';
import { scopesCover, type Access, type FieldRef } from './scopes.js';

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
 * May this caller change these fields of its own profile? Only a user (or an agent acting for
 * one) writes, only to that user's profile, and only with the write scope of every field.
 */
export function decideWrite(principal: Principal, refs: readonly FieldRef[]): Decision {
  if (principal.kind !== 'user' && principal.kind !== 'delegated') return deny('NOT_SUBJECT');
  return refs.every((ref) => scopesCover(principal.scopes, ref, 'write')) ? ALLOW : deny('MISSING_SCOPE');
}
