import { OFFLINE_ACCESS, scopeWithin } from '../authz/scopes.js';
import type { Actor } from './access-token.js';

/** RFC 8693 §3 token type identifiers. */
export const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;

/** RFC 8693 §2.1: the `grant_type` of a token exchange. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** The hub's access tokens are JWTs, so either identifier names them. */
export const isAccessTokenType = (type: string | undefined) => type === TOKEN_TYPES.accessToken || type === TOKEN_TYPES.jwt;

/** The nested `act` claim of a chain given nearest first (RFC 8693 §4.1). */
export function actorOf(chain: readonly string[]): Actor | undefined {
  let actor: Actor | undefined;
  for (let i = chain.length - 1; i >= 0; i--) actor = actor ? { sub: chain[i]!, act: actor } : { sub: chain[i]! };
  return actor;
}

/**
 * The scopes a delegated token gets: each requested scope that lies within every limit (the
 * subject token, the agent's ceiling, the consent), or by default every scope of the limits that
 * lies within all of them. A single-field scope whose category scope is also granted is dropped
 * as redundant. `offline_access` is never an access token scope.
 */
export function intersectScopes(requested: readonly string[] | undefined, limits: readonly ReadonlySet<string>[]): string[] {
  const candidates = requested ?? [...new Set(limits.flatMap((limit) => [...limit]))];
  const granted = candidates.filter((scope) => scope !== OFFLINE_ACCESS && limits.every((limit) => scopeWithin(scope, limit)));
  const whole = new Set(granted);
  return [...new Set(granted)].filter((scope) => !/^[a-z]+\.[A-Za-z]+:/.test(scope) || !whole.has(scope.replace(/\.[A-Za-z]+:/, ':')));
}

/**
 * Seconds a token may live: the configured lifetime, cut to each bound given (a subject token's
 * remaining life, a consent's expiry, the end of a session or family). Zero or less means none
 * may be issued.
 */
export function boundedLifetime(now: Date, ttlSeconds: number, bounds: readonly (Date | null | undefined)[]): number {
  const nowSeconds = Math.floor(now.getTime() / 1_000);
  let seconds = ttlSeconds;
  for (const bound of bounds) if (bound) seconds = Math.min(seconds, Math.floor(bound.getTime() / 1_000) - nowSeconds);
  return seconds;
}
