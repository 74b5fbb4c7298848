import type { Principal } from './principal.js';
import type { Decision } from './profile-access.js';

/**
 * A decision that may ask the user to sign in again (RFC 9470 step-up, OIDC `max_age`) rather
 * than name a FORBIDDEN reason: the token is valid, but the sign-in behind it is too old.
 */
export type StepUpDecision = Decision | { readonly allowed: false; readonly reason: 'REAUTHENTICATE' };

export const REAUTHENTICATE: StepUpDecision = Object.freeze({ allowed: false, reason: 'REAUTHENTICATE' });
const ALLOWED: StepUpDecision = Object.freeze({ allowed: true });

/**
 * How long after typing their password a user may still do what a stolen access token must not:
 * erase their account, be handed an agent's client secret (register an agent, rotate its secret),
 * or consent to, or reactivate, an agent that may hold a refresh token for them; the secret and the
 * refresh token outlive the token (OIDC `max_age`, RFC 9470 step-up).
 */
export const RECENT_SIGN_IN_SECONDS = 10 * 60;

/** When the user of a user token last typed their password (`auth_time`), in ms; -Infinity when the token does not say. */
export function authenticatedAt(principal: Extract<Principal, { kind: 'user' }>): number {
  return principal.authTime?.getTime() ?? -Infinity;
}

/**
 * Did the user of a user token type their password within `maxAgeSeconds` of `now` (OIDC
 * `max_age`)? A refresh keeps the sign-in's `auth_time`, so a session refreshed for weeks, or an
 * access token stolen from one, is not a recent sign-in; nor is a token that does not say.
 */
export function signedInWithin(principal: Extract<Principal, { kind: 'user' }>, now: Date, maxAgeSeconds: number): boolean {
  return now.getTime() - authenticatedAt(principal) <= maxAgeSeconds * 1_000;
}

/**
 * The step-up of what a stolen access token must not do: allowed for a user signed in within
 * RECENT_SIGN_IN_SECONDS of `now`, else REAUTHENTICATE.
 */
export function recentSignIn(principal: Extract<Principal, { kind: 'user' }>, now: Date): StepUpDecision {
  return signedInWithin(principal, now, RECENT_SIGN_IN_SECONDS) ? ALLOWED : REAUTHENTICATE;
}
