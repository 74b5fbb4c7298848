import type { ForbiddenReason } from '../shared/errors.js';
import { consentCovers, type ConsentedCoverage } from '../consent/purposes.js';
import { hasScope, type Principal } from './principal.js';
import { scopesCover, type FieldRef, type FilterRead } from './scopes.js';
import type { Decision } from './profile-access.js';

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/** One field of a member of an audience for a purpose: what `decideAudienceField` decides. */
export interface AudienceFieldScope {
  /**
   * The audience's purpose: its key and what the member's consent covers of it, in the version
   * the consent was given under and in the newest.
   */
  readonly purpose: { readonly key: string; readonly coverage: ConsentedCoverage };
  readonly ref: FieldRef;
}

/** May this caller select audiences at all? A client (a marketing tool) with `audience:read`. Never throws. */
export function decideAudienceAccess(principal: Principal): Decision {
  if (principal.kind !== 'client') return deny(principal.kind === 'anonymous' ? 'MISSING_SCOPE' : 'NOT_SUBJECT');
  return hasScope(principal, 'audience:read') ? ALLOW : deny('MISSING_SCOPE');
}

/**
 * The per-field decision for a member of an audience. Membership itself (a live consent for the
 * purpose) is what put the user in the audience; here the purpose must cover the field, both in
 * the version the member's consent was given under and in the newest (else PURPOSE_NOT_COVERED,
 * whatever the token holds), and the token's scopes must cover it too (else MISSING_SCOPE).
 * Never throws.
 */
export function decideAudienceField(principal: Principal, { purpose, ref }: AudienceFieldScope): Decision {
  const access = decideAudienceAccess(principal);
  if (!access.allowed) return access;
  if (!consentCovers(purpose.coverage, `${ref.category}.${ref.field}:read`)) return deny('PURPOSE_NOT_COVERED');
  if (principal.kind === 'anonymous' || !scopesCover(principal.scopes, ref, 'read')) return deny('MISSING_SCOPE');
  return ALLOW;
}

/** The answer for a filter: allowed, or the first key refused, the field it reads and why. */
export type FilterDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: ForbiddenReason; readonly key: string; readonly ref: FieldRef };

/**
 * May this caller select the members of an audience for this purpose by these filter keys? A key
 * that selects on a field tells what the field holds as surely as showing it would (narrowed
 * until it keeps or drops one member, it answers for that member), so each must pass the member
 * field decision for the field it reads: the purpose covers it (else PURPOSE_NOT_COVERED) and the
 * token does (else MISSING_SCOPE). Pass the purpose as the registry defines it now (its newest
 * version) and the token of this request, not those a saved filter was saved with; members whose
 * consent's version covers less are the selection's to leave out. Keys are decided in the order
 * given; the first refused is the answer. Never throws.
 */
export function decideAudienceFilter(
  principal: Principal,
  newest: { readonly key: string; readonly dataCategories: readonly string[] },
  reads: readonly FilterRead[],
): FilterDecision {
  const purpose = { key: newest.key, coverage: { given: newest.dataCategories, newest: newest.dataCategories } };
  for (const { key, ref } of reads) {
    const decision = decideAudienceField(principal, { purpose, ref });
    if (!decision.allowed) return Object.freeze({ allowed: false, reason: decision.reason, key, ref });
  }
  return { allowed: true };
}
