import { createContextCache } from '@pothos/core';
import { purposeCovers } from '../consent/purposes.js';
import type { Context } from '../graphql/context.js';
import type { ForbiddenReason } from '../shared/errors.js';
import type { GrantState, Principal } from './principal.js';
import { scopesCover, type FieldRef } from './scopes.js';
import type { Decision } from './profile-access.js';

type Delegated = Extract<Principal, { kind: 'delegated' }>;

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/**
 * The per-field decision for an agent acting for a user, in a fixed order that names the first
 * check failed: the token's `sub` is this user (NOT_SUBJECT); the token's scopes cover the field
 * (MISSING_SCOPE); the consent the token was issued under exists and is this user's (NO_CONSENT),
 * is not withdrawn (CONSENT_WITHDRAWN) and not expired (CONSENT_EXPIRED); every agent of the `act`
 * chain and their ancestors is active (AGENT_INACTIVE); the consent's scopes cover the field
 * (NO_CONSENT); the purpose, as the registry defines it now, covers the field
 * (PURPOSE_NOT_COVERED). `access` is `write` for an action on the field (an approval of a payment
 * action). Pure: the state comes from `grantState`. Never throws.
 */
export function decideDelegatedField(principal: Delegated, grant: GrantState, userId: string, ref: FieldRef, access: 'read' | 'write' = 'read'): Decision {
  if (principal.userId !== userId) return deny('NOT_SUBJECT');
  if (!scopesCover(principal.scopes, ref, access)) return deny('MISSING_SCOPE');
  const { consent } = grant;
  const inForce = decideConsentInForce(principal, consent);
  if (!consent || !inForce.allowed) return inForce;
  if (!grant.agentsLive) return deny('AGENT_INACTIVE');
  if (!scopesCover(new Set(consent.scopes), ref, access)) return deny('NO_CONSENT');
  const fieldScope = `${ref.category}.${ref.field}:${access}`;
  if (!grant.purposeCategories || !purposeCovers({ dataCategories: grant.purposeCategories }, fieldScope)) return deny('PURPOSE_NOT_COVERED');
  return ALLOW;
}

/**
 * Is the consent a delegated token was issued under still in force for its user? It exists and is
 * the user's (NO_CONSENT), is not withdrawn (CONSENT_WITHDRAWN) and not expired (CONSENT_EXPIRED).
 * The consent part of `decideDelegatedField`, for what reads the consent again on its own (a
 * payment, in the transaction that uses its approval). Pure. Never throws.
 */
export function decideConsentInForce(principal: Pick<Delegated, 'userId'>, consent: GrantState['consent']): Decision {
  if (!consent || consent.userId !== principal.userId) return deny('NO_CONSENT');
  if (consent.status === 'withdrawn') return deny('CONSENT_WITHDRAWN');
  if (consent.status === 'expired' || consent.expired) return deny('CONSENT_EXPIRED');
  return ALLOW;
}

/**
 * The consent and agent state behind the request's delegated token, read once per request.
 *
 * The story, in one place: the token check (`TokenService.inspect`, run by the bearer hook on
 * every HTTP request) reads this state and answers 401 when the consent is no longer in force or
 * an agent of the chain is not active: that is what makes a withdrawal or suspension take effect
 * on the very next request, on every instance. It hands the same read to the principal
 * (`grant`), so the per-field decision costs no second lookup and gives each refused field its
 * reason. Where no token check ran (the schema executed in process), the state is read here,
 * once, through the token service.
 */
export const grantState = createContextCache((ctx: Context): Promise<GrantState> => {
  const principal = ctx.principal;
  if (principal.kind !== 'delegated') throw new TypeError('grantState is for delegated callers only');
  if (principal.grant) return Promise.resolve(principal.grant);
  const agentIds = [...new Set([principal.clientId, ...principal.actorChain])];
  return ctx.services.tokens
    .delegationState(ctx.services.db, { agentIds, consentId: principal.consentId, userId: principal.userId })
    .then((state) => state.grant ?? { agentsLive: state.agentsLive, consent: null, purposeCategories: null });
});
