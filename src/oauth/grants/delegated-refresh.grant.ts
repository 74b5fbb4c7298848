import type { Services } from '../../app.js';
import type { Agent } from '../../agents/agent.service.js';
import { auditInTransaction, type AuditEventInput } from '../../audit/audit.service.js';
import { OFFLINE_ACCESS, parseScope, scopeWithin } from '../../authz/scopes.js';
import { actorOf, boundedLifetime } from '../delegation.js';
import { invalidGrant, invalidScope, refusingFor } from '../oauth-error.js';
import { findRefreshFamiliesEnd } from '../refresh-token.queries.js';
import { earliestOf, findRefreshTokenRefusal, issueRefreshToken, refusalSubject, useRefreshToken } from '../refresh-tokens.js';
import type { TokenRequest, TokenResponse } from '../token.endpoint.js';

const REUSED = 'refresh token reused: family revoked';

/**
 * `grant_type=refresh_token` for an authenticated agent: delegated access that outlives the
 * user's session. The token must be the agent's own, its consent still in force, every agent of
 * its chain (and their ancestors) active, its user active and, for a sub-agent's family, none of
 * the tokens or families it was exchanged from revoked; it is used once and replaced, and a reuse
 * revokes the family. The new access token carries the same `act`, `consent_id`, `purpose` and
 * `delegated_from`; neither it nor the new refresh token outlives the consent or any family it
 * was exchanged from, and the access token ends by the agent's expiry. `scope` narrows the access token only:
 * the new refresh token keeps the used one's scope (RFC 6749 §6).
 */
export async function delegatedRefreshGrant(services: Services, { params, requestId }: TokenRequest, agent: Agent): Promise<TokenResponse> {
  const { clock, config, db } = services;
  const now = clock.now();
  const outcome = await db.transaction().execute(async (tx) => {
    const used = await useRefreshToken(tx, services.keys.refreshTokenKey, params.refresh_token!, agent.id, now);
    const event = (fields: Pick<AuditEventInput, 'action' | 'decision' | 'reason' | 'purpose' | 'detail'>): AuditEventInput => ({
      actor: { kind: 'delegated', id: agent.id },
      actorChain: used.actor_chain,
      subjectUserId: used.user_id,
      clientId: agent.id,
      consentId: used.consent_id,
      requestId,
      ...fields,
    });
    if (used.familyRevoked) {
      await auditInTransaction(tx, event({ action: 'token.revoked', decision: 'DENY', reason: REUSED }), now);
      return { reused: true as const };
    }
    return refusingFor(refusalSubject(used), async () => {
      if (!used.consent_id) throw invalidGrant('refresh token is invalid', 'not a delegated refresh token');
      const refusal = await findRefreshTokenRefusal(services, tx, used);
      if (refusal) throw invalidGrant('refresh token is invalid', refusal);
      const delegatedFrom = used.delegated_from;
      const granted = new Set(parseScope(used.scope));
      // The exchange answered `offline_access` as granted with the family, so asking for it again
      // asks for nothing beyond the grant (RFC 6749 §6); it never goes into an access token.
      const requested = params.scope ? parseScope(params.scope).filter((scope) => scope !== OFFLINE_ACCESS) : [...granted];
      if (requested.length === 0 || requested.some((scope) => !scopeWithin(scope, granted))) throw invalidScope('scope exceeds what the refresh token was granted');
      const [consent] = await services.consents.findConsents(tx, [used.consent_id]);
      if (boundedLifetime(now, config.accessTokenTtl, [consent!.expiresAt]) <= 0) throw invalidGrant('refresh token is invalid', 'consent ends now');
      const parentFamiliesEnd = await findRefreshFamiliesEnd(tx, delegatedFrom.flatMap((link) => (link.sid ? [link.sid] : [])));
      const ttl = boundedLifetime(now, config.accessTokenTtl, [consent!.expiresAt, parentFamiliesEnd, agent.expiresAt]);
      if (ttl <= 0) throw invalidGrant('refresh token is invalid', 'the family it was exchanged from, or the agent, ends now');
      const scope = requested.join(' ');
      const access = await services.tokens.issueAccessToken(
        {
          sub: used.user_id,
          client_id: agent.id,
          scope,
          act: actorOf(used.actor_chain)!,
          consent_id: consent!.id,
          purpose: consent!.purpose,
          sid: used.family_id,
          ...(delegatedFrom.length > 0 && { delegated_from: delegatedFrom }),
        },
        ttl,
        now,
      );
      const grant = { userId: used.user_id, clientId: agent.id, scope: used.scope, authTime: used.auth_time, familyId: used.family_id, replaces: used.id, consentId: consent!.id, actorChain: used.actor_chain, delegatedFrom };
      const refreshToken = await issueRefreshToken(tx, services.keys.refreshTokenKey, { ...grant, notAfter: earliestOf(consent!.expiresAt, parentFamiliesEnd) }, now);
      await auditInTransaction(tx, event({ action: 'token.refreshed', decision: 'ALLOW', purpose: consent!.purpose, detail: { scope, jti: access.jti } }), now);
      return { response: { access_token: access.accessToken, token_type: 'Bearer' as const, expires_in: access.expiresIn, refresh_token: refreshToken, scope } };
    });
  });
  if ('reused' in outcome) throw invalidGrant('refresh token is invalid', REUSED);
  return outcome.response;
}
