import type { Services } from '../app.js';
import { auditInTransaction, type AuditEventInput } from '../audit/audit.service.js';
import { InvalidTokenError, type VerifiedAccessToken } from './access-token.js';
import { invalidClient, type OAuthClient } from './client-auth.js';
import { invalidRequest, OAuthError } from './oauth-error.js';
import { introspectPaymentToken, verifyPaymentToken } from './payment-token.js';
import { revokeRefreshTokenFamily, revokeRefreshTokensDelegatedFrom, type RefreshTokenRow } from './refresh-token.queries.js';
import { findRefreshTokenRefusal, findRefreshTokenRow, refreshFamilyRevokedEvent } from './refresh-tokens.js';
import { deleteExpiredRevocations, insertRevokedToken } from './token-state.queries.js';
import { RefusedTokenError } from './token.service.js';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.js';

/**
 * `/oauth/revoke` (RFC 7009). The caller must authenticate (or be the hub's public client, which
 * RFC 7009 §2.1 lets identify by `client_id`), and only its own tokens are revoked: an access
 * token (the hub's own, or a payment token) by its `jti` until it expires, a refresh token with
 * its whole family. Either way the refresh tokens of sub-agents exchanged from it (at any depth)
 * are revoked with it, and their access tokens are refused (`delegated_from`). A revocation is
 * audited and announced (`token.revoked`) once. A live token of another client (one introspection
 * would call active for its holder) is refused (RFC 7009 §2.1) and nothing revoked: resolves to
 * the refusal to answer, already audited as a refused `token.revoked` naming the client that
 * holds it, since a client presenting another's token may hold a stolen one. A dead one (revoked,
 * a refresh token rotated, expired, or no longer accepted for its user, agents or consent) is no
 * one's to guard any more: it answers 200 and changes nothing, as does anything unknown (§2.2).
 * Resolves when the revocation has committed.
 * @throws OAuthError invalid_client without client authentication, invalid_request without `token`.
 */
export async function revoke(services: Services, params: Record<string, string>, client: OAuthClient, requestId: string): Promise<OAuthError | undefined> {
  if (client.kind === 'none') throw invalidClient('no client authentication');
  const callerId = client.kind === 'agent' ? client.agent.id : client.clientId;
  const token = params.token;
  if (!token) throw invalidRequest('token is required');
  const now = services.clock.now();
  const actor: AuditEventInput['actor'] = client.kind === 'agent' ? { kind: 'client', id: callerId } : { kind: 'anonymous', id: null };
  const event = (decision: 'ALLOW' | 'DENY', fields: Partial<AuditEventInput>): AuditEventInput => ({
    action: 'token.revoked',
    actor,
    clientId: callerId,
    decision,
    requestId,
    ...fields,
  });

  const access = token.includes('.') ? ((await verified(services, token)) ?? (await verifyPaymentToken(services, token))) : undefined;
  if (access) {
    const about = { subjectUserId: access.sub.startsWith('usr_') ? access.sub : null, detail: { jti: access.jti, heldBy: access.client_id } };
    if (access.client_id !== callerId) return (await accessTokenLive(services, token)) ? refuse(event('DENY', { ...about, reason: 'access token of another client' })) : undefined;
    await services.db.transaction().execute(async (tx) => {
      const revokedNow = await insertRevokedToken(tx, { jti: access.jti, clientId: access.client_id, expiresAt: new Date(access.exp * 1_000) }, now);
      // Its `jti` is forgotten once it expires; the refresh tokens of sub-agents exchanged from it
      // can outlive it, so they are revoked now, for good.
      await revokeRefreshTokensDelegatedFrom(tx, access.jti, now);
      // Revoked already: audited and announced the first time.
      if (!revokedNow) return;
      await auditInTransaction(tx, event('ALLOW', { ...about, reason: 'access token revoked' }), now);
      await enqueueWebhookEvent(tx, { type: 'token.revoked', data: { tokenType: 'access_token', reason: 'revoked', tokenId: access.jti, clientId: access.client_id, userId: about.subjectUserId } }, now);
    });
    await deleteExpiredRevocations(services.db, now).catch(() => {});
    return undefined;
  }
  const refresh: RefreshTokenRow | undefined = await findRefreshTokenRow(services.db, services.keys.refreshTokenKey, token, { forUpdate: false });
  if (!refresh) return undefined;
  const about = { subjectUserId: refresh.user_id, consentId: refresh.consent_id, detail: { heldBy: refresh.client_id } };
  if (refresh.client_id !== callerId) return (await refreshTokenLive(services, refresh, now)) ? refuse(event('DENY', { ...about, reason: 'refresh token of another client' })) : undefined;
  if (refresh.revoked_at) return undefined;
  await services.db.transaction().execute(async (tx) => {
    // Revoked already, by a request that read the token before this one: audited and announced by it.
    if ((await revokeRefreshTokenFamily(tx, refresh.family_id, now)) === 0) return;
    await auditInTransaction(tx, event('ALLOW', { ...about, reason: 'refresh token revoked with its family' }), now);
    await enqueueWebhookEvent(tx, refreshFamilyRevokedEvent(refresh, 'revoked'), now);
  });
  return undefined;

  function refuse(attempt: AuditEventInput): OAuthError {
    services.audit.record(attempt);
    return new OAuthError(400, 'unauthorized_client', 'the token was not issued to this client');
  }
}

/** The claims of a token the hub signed and that has not expired; undefined for anything else. */
async function verified(services: Services, token: string): Promise<VerifiedAccessToken | undefined> {
  try {
    return await services.tokens.verify(token);
  } catch (error) {
    if (error instanceof InvalidTokenError) return undefined;
    throw error;
  }
}

/**
 * Whether an access or payment token the hub signed could still be used: unexpired, not revoked
 * (by its `jti`, its family or a token it was exchanged from), its user, agents and consent live,
 * as introspection judges it. So a client is refused another's token exactly while refusing
 * protects something. Never throws for a bad token.
 */
async function accessTokenLive(services: Services, token: string): Promise<boolean> {
  try {
    await services.tokens.inspect(token);
    return true;
  } catch (error) {
    // A user's own token handed to an agent is refused as a bearer token, yet the agent may still
    // exchange it: it lives while an exchange would take it, past where the bearer check stopped.
    if (error instanceof RefusedTokenError && error.refusal === 'HANDED_TO_AGENT') return (await services.tokens.userTokenRefusal(services.db, error.token.claims)) === undefined;
    if (!(error instanceof InvalidTokenError)) throw error;
  }
  return (await introspectPaymentToken(services, token, () => true))?.active === true;
}

/**
 * Whether a refresh token can still be used: neither revoked, rotated (its next use would be a
 * reuse, which only revokes its family) nor expired, and what stands behind it still stands.
 */
async function refreshTokenLive(services: Services, row: RefreshTokenRow, now: Date): Promise<boolean> {
  if (row.revoked_at || row.rotated_at || row.expires_at <= now) return false;
  return (await findRefreshTokenRefusal(services, services.db, row)) === undefined;
}
