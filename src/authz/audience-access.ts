import type { ForbiddenReason } from '../shared/errors.js';
import { purposeCovers } from '../consent/purposes.js';
import { hasScope, type Principal } from './principal.js';
import { scopesCover, type FieldRef } from './scopes.js';
import type { Decision } from './profile-access.js';

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/** The parameter of the `audienceField` scope: one field of a member of an audience for a purpose. */
export interface AudienceFieldScope {
  /** The audience's purpose: its key and the data categories (or single fields) it covers. */
  readonly purpose: { readonly key: string; readonly dataCategories: readonly string[] };
  readonly ref: FieldRef;
}

/** May this caller select audiences at all? A client (a marketing tool) with `audience:read`. Never throws. */
export function decideAudienceAccess(principal: Principal): Decision {
  if (principal.kind !== 'client') return deny(principal.kind === 'anonymous' ? 'MISSING_SCOPE' : 'NOT_SUBJECT');
  return hasScope(principal, 'audience:read') ? ALLOW : deny('MISSING_SCOPE');
}

/**
 * The per-field decision for a member of an audience. Membership itself (a live consent for the
 * purpose) is what put the user in the audience; here the purpose must cover the field (else
 * PURPOSE_NOT_COVERED, whatever the token holds) and the token's scopes must cover it too (else
 * MISSING_SCOPE). Never throws.
 */
export function decideAudienceField(principal: Principal, { purpose, ref }: AudienceFieldScope): Decision {
  const access = decideAudienceAccess(principal);
  if (!access.allowed) return access;
  if (!purposeCovers(purpose, `${ref.category}.${ref.field}:read`)) return deny('PURPOSE_NOT_COVERED');
  if (principal.kind === 'anonymous' || !scopesCover(principal.scopes, ref, 'read')) return deny('MISSING_SCOPE');
  return ALLOW;
}
