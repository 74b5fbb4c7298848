import type { Services } from '../../app.js';
import { auditInTransaction, type AuditEventInput } from '../../audit/audit.service.js';
import { parseScope, scopeWithin } from '../../authz/scopes.js';
import { invalidClient } from '../client-auth.js';
import { boundedLifetime } from '../delegation.js';
import { invalidGrant, invalidRequest, invalidScope, refusingFor } from '../oauth-error.js';
import { limitRefreshTokenExpiry } from '../refresh-token.queries.js';
import { findRefreshTokenRefusal, hashRefreshToken, refusalSubject, useRefreshToken } from '../refresh-tokens.js';
import { FRONTEND_CLIENT_ID } from '../token.service.js';
import { checkAudience, type TokenRequest, type TokenResponse } from '../token.endpoint.js';
import { delegatedRefreshGrant } from './delegated-refresh.grant.js';

/**
 * How long a user's session lasts from the sign-in that began it, however often it is refreshed:
 * past it the user signs in again (NIST SP 800-63B-4: at AAL1, reauthentication at least every
 * 30 days). Agents' offline families stay bounded by the family they were exchanged from.
 */
export const USER_SESSION_MAX_AGE_SECONDS = 30 * 24 * 3_600;

/**
 * `grant_type=refresh_token` (RFC 6749 §6). An authenticated agent refreshes delegated access
 * (see `delegatedRefreshGrant`); the hub's own public client refreshes a user's session, until
 * `USER_SESSION_MAX_AGE_SECONDS` after its sign-in (`auth_time`). Either way the token is used
 * once and replaced, a reused token revokes its family, and `scope` may only narrow the access
 * token: the new refresh token keeps the used one's scope (RFC 6749 §6). `audience` and
 * `resource` may only name the hub's API, as at every grant. Refusals are audited by the token
 * endpoint.
 */
export async function refreshTokenGrant(services: Services, request: TokenRequest): Promise<TokenResponse> {
  if (!request.params.refresh_token) throw invalidRequest('refresh_token is required');
  if (request.client.kind === 'none') throw invalidClient('no client authentication');
  // Checked before the token is used: a refusal leaves it unspent.
  checkAudience(services, request.params);
  return request.client.kind === 'agent' ? delegatedRefreshGrant(services, request, request.client.agent) : userSessionRefresh(services, request);
}

async function userSessionRefresh(services: Services, { params, requestId }: TokenRequest): Promise<TokenResponse> {
  const token = params.refresh_token!;
  const now = services.clock.now();
  const event = (userId: string, fields: Pick<AuditEventInput, 'action' | 'decision'> & { reason?: string }): AuditEventInput => ({
    actor: { kind: 'user', id: userId },
    subjectUserId: userId,
    clientId: FRONTEND_CLIENT_ID,
    requestId,
    ...fields,
  });
  const outcome = await services.db.transaction().execute(async (tx) => {
    const used = await useRefreshToken(tx, services.keys.refreshTokenKey, token, FRONTEND_CLIENT_ID, now);
    if (used.familyRevoked) {
      await auditInTransaction(tx, event(used.user_id, { action: 'token.revoked', decision: 'DENY', reason: 'refresh token reused: family revoked' }), now);
      return { reused: true as const };
    }
    return refusingFor(refusalSubject(used), async () => {
      // A session's tokens, access and refresh, end by then (see below); the check also ends the
      // refresh tokens issued before that bound.
      const sessionEndsAt = new Date(used.auth_time.getTime() + USER_SESSION_MAX_AGE_SECONDS * 1_000);
      const ttlSeconds = boundedLifetime(now, services.config.accessTokenTtl, [sessionEndsAt]);
      if (ttlSeconds <= 0) throw invalidGrant('refresh token is invalid', 'session older than its absolute lifetime: the user must sign in again');
      const granted = new Set(parseScope(used.scope));
      const requested = params.scope ? parseScope(params.scope) : [...granted];
      if (requested.length === 0 || requested.some((scope) => !scopeWithin(scope, granted))) throw invalidScope('scope exceeds what the refresh token was granted');
      const refusal = await findRefreshTokenRefusal(services, tx, used);
      if (refusal) throw invalidGrant('refresh token is invalid', refusal);
      const session = await services.tokens.issueUserSession(tx, used.user_id, used.auth_time, { scope: requested.join(' '), refreshScope: used.scope, familyId: used.family_id, replaces: used.id, ttlSeconds, now });
      await limitRefreshTokenExpiry(tx, hashRefreshToken(session.refreshToken), sessionEndsAt);
      await auditInTransaction(tx, event(used.user_id, { action: 'token.refreshed', decision: 'ALLOW' }), now);
      return { session };
    });
  });
  // The family's revocation has committed; only now is the reuse refused.
  if ('reused' in outcome) throw invalidGrant('refresh token is invalid', 'refresh token reused: family revoked');
  const { session } = outcome;
  return { access_token: session.accessToken, token_type: 'Bearer', expires_in: session.expiresIn, refresh_token: session.refreshToken, scope: session.scope };
}
