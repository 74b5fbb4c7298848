import { principalFromToken, type Principal } from '../authz/principal.js';
import { ALL_DATA_SCOPES } from '../authz/scopes.js';
import type { Config } from '../config.js';
import type { Db } from '../db/connect.js';
import type { Clock } from '../shared/clock.js';
import { LRUCache } from 'lru-cache';
import {
  InvalidTokenError,
  issueAccessToken,
  verifyAccessToken,
  type AccessTokenClaims,
  type IssuedAccessToken,
  type VerifiedAccessToken,
} from './access-token.js';
import type { KeyStore } from './key-store.js';
import { issueRefreshToken } from './refresh-tokens.js';

/** The client id of the hub's own sign-in (first-party frontends): a public client, no secret. */
export const FRONTEND_CLIENT_ID = 'hub-frontend';

/** `acr` of a session begun with a password (RFC 8176 `pwd`). */
export const PASSWORD_ACR = 'urn:hub:acr:pwd';

export interface UserSession {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
  readonly scope: string;
}

export type TokenService = ReturnType<typeof createTokenService>;

/** Issues and verifies the hub's tokens. */
export function createTokenService(deps: { config: Config; keys: KeyStore; clock: Clock }) {
  const { config, keys, clock } = deps;
  const audience = { issuer: config.issuer, audience: config.audience };
  // Verified tokens by their text: a token is verified once, then only its expiry is checked.
  // Revocation is not decided here, so caching the signature check changes no answer.
  const verified = new LRUCache<string, VerifiedAccessToken>({ max: 10_000 });

  return {
    /** Signs an access token with the configured lifetime, or a shorter one. */
    issueAccessToken(claims: AccessTokenClaims, ttlSeconds = config.accessTokenTtl): Promise<IssuedAccessToken> {
      return issueAccessToken(keys, audience, claims, { now: clock.now(), ttlSeconds: Math.min(ttlSeconds, config.accessTokenTtl) });
    },

    /**
     * A user's access and refresh token. The user's own token carries every data scope for
     * themself; `scope` narrows it. Runs in the caller's transaction (`db`).
     */
    async issueUserSession(db: Db, userId: string, authTime: Date, options: { scope?: string; familyId?: string } = {}): Promise<UserSession> {
      const scope = options.scope ?? ALL_DATA_SCOPES.join(' ');
      const access = await this.issueAccessToken({
        sub: userId,
        client_id: FRONTEND_CLIENT_ID,
        scope,
        acr: PASSWORD_ACR,
        auth_time: Math.floor(authTime.getTime() / 1_000),
      });
      const refreshToken = await issueRefreshToken(
        db,
        { userId, clientId: FRONTEND_CLIENT_ID, scope, authTime, ...(options.familyId && { familyId: options.familyId }) },
        clock.now(),
      );
      return { accessToken: access.accessToken, refreshToken, expiresIn: access.expiresIn, scope };
    },

    /**
     * The caller a bearer token stands for.
     * @throws InvalidTokenError for any token the hub did not issue, or no longer accepts.
     */
    async authenticate(token: string): Promise<Principal> {
      const now = clock.now();
      let claims = verified.get(token);
      if (!claims || claims.exp * 1_000 <= now.getTime()) {
        claims = await verifyAccessToken(keys, audience, token, now);
        verified.set(token, claims);
      }
      const principal = principalFromToken(claims);
      if (!principal) throw new InvalidTokenError('malformed claims');
      return principal;
    },
  };
}
