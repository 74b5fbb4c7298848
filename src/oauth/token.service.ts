import { decideConsentInForce } from '../authz/delegation.js';
import { principalFromToken, type Principal } from '../authz/principal.js';
import { ALL_DATA_SCOPES } from '../authz/scopes.js';
import type { Config } from '../config.js';
import type { Db } from '../db/connect.js';
import type { Clock } from '../shared/clock.js';
import type { Retention } from '../shared/housekeeping.js';
import type { ForbiddenReason } from '../shared/errors.js';
import { decodeProtectedHeader } from 'jose';
import { LRUCache } from 'lru-cache';
import {
  InvalidTokenError,
  issueAccessToken,
  verifyAccessToken,
  type AccessTokenClaims,
  type IssuedAccessToken,
  type VerifiedAccessToken,
} from './access-token.js';
import { deleteExpiredExchangedSubjectTokens } from './exchange.queries.js';
import type { KeyStore } from './key-store.js';
import { deleteEndedFamilyRows, revokeRefreshTokensOfAgent, revokeRefreshTokensOfConsents, revokeRefreshTokensOfUser } from './refresh-token.queries.js';
import { issueRefreshToken, newRefreshFamilyId } from './refresh-tokens.js';
import { deleteExpiredRevocations, findTokenState, type TokenFacts, type TokenState } from './token-state.queries.js';

/** The client id of the hub's own sign-in (first-party frontends): a public client, no secret. */
export const FRONTEND_CLIENT_ID = 'hub-frontend';

/** `acr` of a session begun with a password (RFC 8176 `pwd`). */
const PASSWORD_ACR = 'urn:hub:acr:pwd';

export interface UserSession {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
  readonly scope: string;
}

export type TokenService = ReturnType<typeof createTokenService>;

/** A token the hub accepts now, with the caller it stands for. */
export interface LiveToken {
  readonly claims: VerifiedAccessToken;
  readonly principal: Exclude<Principal, { kind: 'anonymous' }>;
}

/**
 * Why the database no longer stands behind a token whose signature, issuer, audience and expiry
 * are valid: revoked (by its `jti`, its family, or a token it was exchanged from), its user not
 * active, or one of API.md's FORBIDDEN reasons for an agent or a consent.
 */
export type TokenRefusal = 'REVOKED' | 'HANDED_TO_AGENT' | 'USER_INACTIVE' | Extract<ForbiddenReason, 'AGENT_INACTIVE' | 'NO_CONSENT' | 'CONSENT_WITHDRAWN' | 'CONSENT_EXPIRED'>;

/**
 * A token the hub issued and no longer accepts. Its message is the public `error_description`;
 * `refusal` and `token` are for the hub only: the caller and claims can be trusted, since the
 * signature checked out.
 */
export class RefusedTokenError extends InvalidTokenError {
  override name = 'RefusedTokenError';

  constructor(
    message: string,
    readonly refusal: TokenRefusal,
    readonly token: LiveToken,
  ) {
    super(message);
  }
}

/**
 * Issues and verifies the hub's tokens. A presented token is accepted only while the database
 * says it still stands (see `findTokenState`): checked on every use, so a revocation, suspension
 * or withdrawal committed by any instance is refused by every instance on the next request.
 */
export function createTokenService(deps: { config: Config; keys: KeyStore; clock: Clock; db: Db; checks?: Db }) {
  const { config, keys, clock, db } = deps;
  // The check of every request: on connections whose prepared statements keep one plan (see `DatabaseHandle.checks`).
  const checks = deps.checks ?? db;
  const audience = { issuer: config.issuer, audience: config.audience };
  // Every access token the hub issues lives at most this long (`issueAccessToken` caps it).
  const verifyOptions = { maxLifetimeSeconds: config.accessTokenTtl };
  // Verified tokens by their text, with the key that signed them: a token is verified once, then
  // at each use only its expiry and that its key is still accepted are checked, so a retired key
  // ends what it signed on every instance as it would without the cache. Revocation is not decided
  // here, so caching the signature check changes no answer.
  const verified = new LRUCache<string, { readonly claims: VerifiedAccessToken; readonly kid: string }>({ max: 10_000 });

  /** Signature, claims and kind of caller (cached by token text); nothing of the database. */
  async function readToken(token: string, now: Date): Promise<LiveToken> {
    const hit = verified.get(token);
    const stillGood = hit !== undefined && hit.claims.exp * 1_000 > now.getTime() && (await keys.verificationKey(hit.kid)) !== undefined;
    let claims = stillGood ? hit.claims : undefined;
    if (!claims) {
      verified.delete(token);
      claims = await verifyAccessToken(keys, audience, token, now, verifyOptions);
      verified.set(token, { claims, kid: decodeProtectedHeader(token).kid as string });
    }
    const principal = principalFromToken(claims);
    if (!principal || principal.kind === 'anonymous') throw new InvalidTokenError('malformed claims');
    return { claims, principal };
  }

  async function inspect(token: string): Promise<LiveToken> {
    return checkState(await readToken(token, clock.now()));
  }

  /** What the database says of a token read by `readToken`, as of now: see `inspect`. */
  async function checkState({ claims, principal }: LiveToken): Promise<LiveToken> {
    const now = clock.now();
    const agentIds = [...(claims.client_id === FRONTEND_CLIENT_ID ? [] : [claims.client_id]), ...(principal.kind === 'delegated' ? principal.actorChain : [])];
    const user = principal.kind === 'user' || principal.kind === 'delegated' ? { userId: principal.userId } : {};
    const delegated = principal.kind === 'delegated' ? { consentId: principal.consentId } : {};
    const grant = { ...(claims.sid && { familyId: claims.sid }), ...(claims.delegated_from && { delegatedFrom: claims.delegated_from }) };
    const state = await findTokenState(checks, { jti: claims.jti, agentIds, ...user, ...delegated, ...grant }, now);
    const refuse = (message: string, refusal: TokenRefusal) => new RefusedTokenError(message, refusal, { claims, principal });
    if (state.revoked) throw refuse('token revoked', 'REVOKED');
    if (state.handed) throw refuse('token handed to an agent in a token exchange', 'HANDED_TO_AGENT');
    if (!state.userActive) throw refuse('user not active', 'USER_INACTIVE');
    if (!state.agentsLive) throw refuse('agent not active', 'AGENT_INACTIVE');
    if (!state.consentLive) throw refuse('consent not in force', consentRefusal(principal, state));
    // Last: a withdrawal or suspension also revokes the family, and its own reason says more.
    if (state.familyRevoked) throw refuse('token revoked', 'REVOKED');
    // The token check makes a withdrawal, expiry or suspension take effect on the next request
    // (401, on every instance); the same read is handed to the per-field decision, which gives
    // each refused field its reason. One read of consent and agent state per request.
    return { claims, principal: principal.kind === 'delegated' && state.grant ? { ...principal, grant: state.grant } : principal };
  }

  return {
    /**
     * Signs an access token with the configured lifetime, or a shorter one, issued at `now`: a
     * caller that bounded the lifetime by instants of its own passes the `now` it measured from.
     */
    issueAccessToken(claims: AccessTokenClaims, ttlSeconds = config.accessTokenTtl, now = clock.now()): Promise<IssuedAccessToken> {
      return issueAccessToken(keys, audience, claims, { now, ttlSeconds: Math.min(ttlSeconds, config.accessTokenTtl) });
    },

    /**
     * A user's access and refresh token. The user's own token carries every data scope for
     * themself; `scope` narrows it. `refreshScope`, when given, is the refresh token's instead: a
     * refresh keeps the scope of the token it replaces (RFC 6749 §6). A refresh names the family
     * it continues (`familyId`) and the token it `replaces`; without them a new family starts,
     * which may end the user's least recently refreshed ones (see `issueRefreshToken`: call this
     * before writing to the user's audit trail). `ttlSeconds` shortens the access token's life
     * (to the session's end), counted from `now`, the instant it was computed at. Runs in the
     * caller's transaction (`db`).
     */
    async issueUserSession(db: Db, userId: string, authTime: Date, options: { scope?: string; refreshScope?: string; familyId?: string; replaces?: string; requestId?: string | null; ttlSeconds?: number; now?: Date } = {}): Promise<UserSession> {
      const scope = options.scope ?? ALL_DATA_SCOPES.join(' ');
      const familyId = options.familyId ?? newRefreshFamilyId();
      const claims = { sub: userId, client_id: FRONTEND_CLIENT_ID, scope, acr: PASSWORD_ACR, auth_time: Math.floor(authTime.getTime() / 1_000), sid: familyId };
      const access = await this.issueAccessToken(claims, options.ttlSeconds, options.now);
      const refreshToken = await issueRefreshToken(db, keys.refreshTokenKey, { userId, clientId: FRONTEND_CLIENT_ID, scope: options.refreshScope ?? scope, authTime, familyId, replaces: options.replaces, requestId: options.requestId }, clock.now());
      return { accessToken: access.accessToken, refreshToken, expiresIn: access.expiresIn, scope };
    },

    /**
     * The caller a bearer token stands for.
     * @throws InvalidTokenError for any token the hub did not issue, or no longer accepts.
     */
    async authenticate(token: string): Promise<Principal> {
      return (await inspect(token)).principal;
    },

    /**
     * `authenticate` in two steps: the signature and claims at once, with the caller they name; the
     * state in the database when `check` is called (the bearer check calls it once the request is
     * whole, and an export before each part it reads). Each `check` is `authenticate` as of then:
     * a token that expired, or whose key stopped being accepted, since the first step is refused
     * as a request bearing it now would be.
     * @throws InvalidTokenError from either step.
     */
    async authenticateInSteps(token: string): Promise<{ caller: Principal; check: () => Promise<Principal> }> {
      const read = await readToken(token, clock.now());
      return { caller: read.principal, check: async () => (await inspect(token)).principal };
    },

    /**
     * A token's claims and caller, in a fixed order: signature and claims (cached by token text),
     * then the token's kind, then its state in the database: not revoked, nor any token it was
     * exchanged from (by `jti` or with its family); its client and every
     * agent of its `act` chain (and their ancestors) active; for a delegated token, its consent
     * still in force for its subject.
     * @throws InvalidTokenError naming the first check that failed: a RefusedTokenError, with the
     *   caller and the refusal, once the signature and claims have passed.
     */
    inspect,

    /**
     * A token's signature, claims and kind of caller, without its state in the database: for a
     * caller that checks that state itself in a query of its own (a token exchange's first hop).
     * @throws InvalidTokenError
     */
    readToken: (token: string) => readToken(token, clock.now()),

    /**
     * Whether a delegation (agents of a chain, a consent for a user, a token by its `jti`, the
     * tokens and families it was exchanged from) stands now, in one query.
     */
    delegationState: (db: Db, facts: TokenFacts) => findTokenState(db, facts, clock.now()),

    /**
     * Why a user's own token could no longer be exchanged (`token revoked`, by its `jti` or its
     * session, or `user not active`), or undefined while it could: what a first hop stands on.
     * Reads through `db`, the caller's transaction if it has one.
     */
    async userTokenRefusal(db: Db, claims: Pick<VerifiedAccessToken, 'jti' | 'sub' | 'sid'>): Promise<'token revoked' | 'user not active' | undefined> {
      const state = await findTokenState(db, { jti: claims.jti, agentIds: [], userId: claims.sub, ...(claims.sid && { familyId: claims.sid }) }, clock.now());
      if (state.revoked || state.familyRevoked) return 'token revoked';
      return state.userActive ? undefined : 'user not active';
    },

    /**
     * A token's signature and claims, whatever the database says of it now: what revocation needs.
     * @throws InvalidTokenError
     */
    verify: (token: string) => verifyAccessToken(keys, audience, token, clock.now(), verifyOptions),

    /**
     * Revokes every refresh token of the user, theirs and their agents', in the caller's
     * transaction; resolves to how many families it ended.
     */
    revokeRefreshTokensOfUser: (tx: Db, userId: string, now: Date) => revokeRefreshTokensOfUser(tx, userId, now),

    /** Revokes every refresh token the agent holds or acts in, in the caller's transaction. */
    revokeRefreshTokensOfAgent: (tx: Db, agentId: string, now: Date) => revokeRefreshTokensOfAgent(tx, agentId, now),

    /** Revokes every refresh token issued under these consents, in the caller's transaction. */
    revokeRefreshTokensOfConsents: (tx: Db, consentIds: readonly string[], now: Date) => revokeRefreshTokensOfConsents(tx, consentIds, now),

    /** What tokens leave behind that the hub keeps no longer than it serves, for its housekeeping. */
    retentions: [
      { name: 'refresh tokens of sessions ended 30 days ago', forget: (now, limit) => deleteEndedFamilyRows(db, now, limit) },
      { name: 'records of expired tokens handed to agents', forget: (now, limit) => deleteExpiredExchangedSubjectTokens(db, now, limit) },
      { name: 'revocations of expired access tokens', forget: (now, limit) => deleteExpiredRevocations(db, now, limit) },
    ] as readonly Retention[],
  };
}

/** Which consent check refused a delegated token, named as the per-field decision names it. */
function consentRefusal(principal: LiveToken['principal'], state: TokenState): TokenRefusal {
  const decision = principal.kind === 'delegated' ? decideConsentInForce(principal, state.grant?.consent ?? null) : undefined;
  const reason = decision && !decision.allowed ? decision.reason : undefined;
  return reason === 'CONSENT_WITHDRAWN' || reason === 'CONSENT_EXPIRED' ? reason : 'NO_CONSENT';
}
