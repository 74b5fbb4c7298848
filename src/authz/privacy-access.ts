import type { ForbiddenReason } from '../shared/errors.js';
import { hasScope, type Principal } from './principal.js';
import type { Decision } from './profile-access.js';
import { ALL_CATEGORIES, DATA_CATEGORIES, holdsEveryDataScope, readNeedsScope, scopesCover } from './scopes.js';
import { REAUTHENTICATE, RECENT_SIGN_IN_SECONDS, signedInWithin, type StepUpDecision } from './step-up.js';

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/**
 * The read scope of every data category: what a user's own token must cover to export their
 * data. The export shows every category (and the consents, agents and access log no scope names),
 * so a token narrowed to some categories is refused rather than handed a partial document that
 * would read as complete.
 */
export const EXPORT_SCOPES: readonly string[] = ALL_CATEGORIES.map((category) => `${category}:read`);

/**
 * How long after typing their password a user may still erase their own account (OIDC `max_age`,
 * RFC 9470 step-up): a session refreshed for weeks, or a stolen access token, is not enough.
 */
export const ERASURE_MAX_AUTH_AGE_SECONDS = RECENT_SIGN_IN_SECONDS;

/**
 * May this caller exercise the right of access and portability (GDPR Art. 15 and 20), exporting
 * everything the hub holds about this user (`GET /users/:id/export`)? The user themself, signed
 * in, or an operator client with `users:admin`, either with a token that reads every field of
 * every data category (`EXPORT_SCOPES`, or the single-field scopes of each field but `id`, whose
 * read needs none: `readNeedsScope`; MISSING_SCOPE for a narrowed one): the export shows every
 * field, and `users:admin` alone reads none through GraphQL. The person's records that come with
 * them (consents, sessions, access log) are theirs under the right of access, which the operator
 * answers for them, and need no operator scope of their own (`consents:admin`, `audit:read`). Not
 * an agent acting for the user: no consent covers taking everything at once. Never throws.
 */
export function decideDataSubjectRequest(principal: Principal, userId: string): Decision {
  switch (principal.kind) {
    case 'anonymous':
      return deny('MISSING_SCOPE');
    case 'user':
      if (principal.userId !== userId) return deny('NOT_SUBJECT');
      return readsEveryField(principal.scopes) ? ALLOW : deny('MISSING_SCOPE');
    case 'delegated':
      return deny('NOT_SUBJECT');
    case 'client':
      return hasScope(principal, 'users:admin') && readsEveryField(principal.scopes) ? ALLOW : deny('MISSING_SCOPE');
  }
}

/**
 * May this caller erase this user as the user themself? Checked in this order: the user, signed in
 * themself (NOT_SUBJECT for anyone else: an agent acting for them, another user, a client); with
 * every scope a sign-in grants (MISSING_SCOPE); having typed their password within
 * `ERASURE_MAX_AUTH_AGE_SECONDS` of `now` (REAUTHENTICATE). An operator's erasure with
 * `users:admin` is declared beside it on the field, and is not decided here. Never throws.
 */
export function decideSelfErasure(principal: Principal, userId: string, now: Date): StepUpDecision {
  if (principal.kind !== 'user' || principal.userId !== userId) return deny('NOT_SUBJECT');
  if (!holdsEveryDataScope(principal.scopes)) return deny('MISSING_SCOPE');
  if (!signedInWithin(principal, now, ERASURE_MAX_AUTH_AGE_SECONDS)) return REAUTHENTICATE;
  return ALLOW;
}

function readsEveryField(scopes: ReadonlySet<string>): boolean {
  return ALL_CATEGORIES.every((category) =>
    (DATA_CATEGORIES[category] as readonly string[]).every((field) => !readNeedsScope(field) || scopesCover(scopes, { category, field }, 'read')),
  );
}
