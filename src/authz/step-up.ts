import type { Principal } from './principal.js';
import type { Decision } from './profile-access.js';

/**
 * A decision that may ask the user to sign in again (RFC 9470 step-up, OIDC `max_age`) rather
 * than name a FORBIDDEN reason: the token is valid, but the sign-in behind it is too old.
 */
export type StepUpDecision = Decision | { readonly allowed: false; readonly reason: 'REAUTHENTICATE' };

export const REAUTHENTICATE: StepUpDecision = Object.freeze({ allowed: false, reason: 'REAUTHENTICATE' });

/** When the user of a user token last typed their password (`auth_time`), in ms; -Infinity when the token does not say. */
export function authenticatedAt(principal: Extract<Principal, { kind: 'user' }>): number {
  return principal.authTime?.getTime() ?? -Infinity;
}
