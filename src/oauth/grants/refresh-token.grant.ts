import type { Services } from '../../app.js';
import { auditInTransaction, type AuditEventInput } from '../../audit/audit.service.js';
import { scopeWithin } from '../../authz/scopes.js';
import { invalidGrant, invalidRequest, invalidScope, OAuthError } from '../oauth-error.js';
import { useRefreshToken } from '../refresh-tokens.js';
import { FRONTEND_CLIENT_ID } from '../token.service.js';
import type { TokenRequest, TokenResponse } from '../token.endpoint.js';

/**
 * `grant_type=refresh_token` (RFC 6749 §6) for the hub's own public client: the token is used
 * once and replaced; a reused token revokes its family; `scope` may only narrow. Every outcome
 * is audited, a refusal with its reason.
 */
export async function refreshTokenGrant(services: Services, { params, requestId }: TokenRequest): Promise<TokenResponse> {
  const token = params.refresh_token;
  if (!token) throw invalidRequest('refresh_token is required');
  if (params.client_id !== FRONTEND_CLIENT_ID) {
    throw new OAuthError(401, 'invalid_client', 'client authentication failed', 'unknown public client', { 'www-authenticate': 'Basic realm="hub"' });
  }
  const now = services.clock.now();
  const event = (userId: string | null, fields: Pick<AuditEventInput, 'action' | 'decision'> & { reason?: string }): AuditEventInput => ({
    actor: { kind: 'user', id: userId },
    subjectUserId: userId,
    clientId: FRONTEND_CLIENT_ID,
    requestId,
    ...fields,
  });
  try {
    const outcome = await services.db.transaction().execute(async (tx) => {
      const used = await useRefreshToken(tx, token, FRONTEND_CLIENT_ID, now);
      if (used.familyRevoked) {
        await auditInTransaction(tx, event(used.user_id, { action: 'token.revoked', decision: 'DENY', reason: 'refresh token reused: family revoked' }), now);
        return { reused: true as const };
      }
      const granted = new Set(used.scope.split(' '));
      const requested = params.scope ? params.scope.split(' ').filter(Boolean) : [...granted];
      if (requested.some((scope) => !scopeWithin(scope, granted))) {
        throw invalidScope('scope exceeds what the refresh token was granted');
      }
      if (!(await services.identity.findActiveUser(tx, used.user_id))) throw invalidGrant('refresh token is invalid', 'user is not active');
      const session = await services.tokens.issueUserSession(tx, used.user_id, used.auth_time, { scope: requested.join(' '), familyId: used.family_id });
      await auditInTransaction(tx, event(used.user_id, { action: 'token.refreshed', decision: 'ALLOW' }), now);
      return { session };
    });
    // The family's revocation has committed; only now is the reuse refused.
    if ('reused' in outcome) throw invalidGrant('refresh token is invalid', 'refresh token reused: family revoked');
    const { session } = outcome;
    return { access_token: session.accessToken, token_type: 'Bearer', expires_in: session.expiresIn, refresh_token: session.refreshToken, scope: session.scope };
  } catch (error) {
    if (error instanceof OAuthError && error.detail !== 'refresh token reused: family revoked') {
      await auditInTransaction(services.db, event(null, { action: 'token.refused', decision: 'DENY', reason: `${error.error}: ${error.detail}` }), now);
    }
    throw error;
  }
}
