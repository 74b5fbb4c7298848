import type { Services } from '../../app.js';
import { auditInTransaction, type AuditEventInput } from '../../audit/audit.service.js';
import type { Agent } from '../../agents/agent.service.js';
import { allowsOfflineAccess, OFFLINE_ACCESS, parseScope, scopeWithin } from '../../authz/scopes.js';
import type { Db } from '../../db/connect.js';
import { ForbiddenError, UnauthenticatedError } from '../../shared/errors.js';
import { InvalidTokenError, type GrantLink } from '../access-token.js';
import { requireAgent } from '../client-auth.js';
import { actorOf, boundedLifetime, intersectScopes, isAccessTokenType, TOKEN_TYPES } from '../delegation.js';
import { findExchangeGrounds, type ExchangeConsent } from '../exchange.queries.js';
import { invalidRequest, invalidScope, OAuthError, refusingFor } from '../oauth-error.js';
import { findRefreshFamiliesEnd } from '../refresh-token.queries.js';
import { earliestOf, issueRefreshToken, newRefreshFamilyId } from '../refresh-tokens.js';
import { checkAudience, type TokenRequest, type TokenResponse } from '../token.endpoint.js';
import type { LiveToken } from '../token.service.js';

/**
 * `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693), for delegation: the
 * authenticated client is the acting agent; `subject_token` is the user's access token, or a
 * delegated token whose nearest actor is the client's registered parent (a sub-agent's hop).
 * Steps, each denying by default: parameters; the subject token's signature and claims; the
 * actor token, if any, live and the client's own; the chain (no cycle, within
 * HUB_MAX_DELEGATION_DEPTH); the subject token's state and the consent (on a first hop, not
 * revoked and the user's live consent naming the agent, read in one statement; later, the whole
 * token check and the subject token's consent, which a `purpose` named must match); scopes
 * (requested ∩ subject ∩ ceiling ∩ consent); lifetime (≤ subject's and consent's).
 * On a first hop the user's live subject token is recorded as handed to the agent, which holds it
 * from then on: the token check refuses it as a bearer token (it stays good for exchanges).
 * The new token carries the subject token's `jti` and refresh family (`sid`), after those the
 * subject descends from (`delegated_from`), so revoking any of them ends it: on a first hop, the
 * user's session. A first hop's refresh family stands on the consent, so an agent keeps the
 * offline access the user gave it after the user signs out (a password change ends it, with every
 * refresh token of the user: the family is stored only after the subject is read again under a
 * lock on the user's row, see `recheckFirstHopSubject`). A later hop's is bound to the grants it
 * descends from and ends with them: `offline_access` there needs a subject token issued with a
 * refresh token, and the new family ends no later than its parent's.
 * Per RFC 8693 §2.2.2, a subject or actor token that is invalid or unacceptable by policy (no
 * consent, not a child, a cycle, too deep) is `invalid_request`; scopes are `invalid_scope`.
 */
export async function tokenExchangeGrant(services: Services, { params, client, requestId }: TokenRequest): Promise<TokenResponse> {
  const agent = requireAgent(client);
  const { config, clock, db } = services;
  if (!params.subject_token) throw invalidRequest('subject_token is required');
  if (!params.subject_token_type) throw invalidRequest('subject_token_type is required');
  if (!isAccessTokenType(params.subject_token_type)) throw invalidRequest('subject_token_type must be urn:ietf:params:oauth:token-type:access_token');
  if (params.requested_token_type !== undefined && !isAccessTokenType(params.requested_token_type)) {
    throw invalidRequest('requested_token_type: only urn:ietf:params:oauth:token-type:access_token is issued');
  }
  if (params.actor_token !== undefined && params.actor_token_type === undefined) throw invalidRequest('actor_token_type is required with actor_token');
  if (params.actor_token === undefined && params.actor_token_type !== undefined) throw invalidRequest('actor_token_type is given without actor_token');
  checkAudience(services, params);
  const requested = params.scope === undefined ? undefined : parseScope(params.scope);

  const subject = await asParameter('subject_token', services.tokens.readToken(params.subject_token));
  const user = subject.principal;
  if (user.kind !== 'user' && user.kind !== 'delegated') throw invalidRequest('subject_token must stand for a user');
  if (params.actor_token !== undefined) {
    if (!isAccessTokenType(params.actor_token_type)) throw invalidRequest('actor_token_type must be urn:ietf:params:oauth:token-type:access_token');
    const actor = await asParameter('actor_token', services.tokens.inspect(params.actor_token));
    if (actor.principal.kind !== 'client' || actor.principal.clientId !== agent.id) throw invalidRequest('actor_token is not a token of the authenticated client');
  }

  const previous = user.kind === 'delegated' ? user.actorChain : [];
  if (previous.includes(agent.id)) throw invalidRequest('the client already acts in this delegation chain');
  if (previous.length > 0 && agent.parentAgentId !== previous[0]) throw invalidRequest('the client is not a registered sub-agent of the acting agent');
  const chain = [agent.id, ...previous];
  if (chain.length > config.maxDelegationDepth) throw invalidRequest(`delegation chains are limited to ${config.maxDelegationDepth} agents`);

  // From here the client acts for the user in its own right (on a user's token, or as the acting
  // agent's registered sub-agent): a refusal is the user's to see. Before, it was another client's
  // attempt, which the subject token's consent and chain have no part in.
  const concerned = { token: subject.claims.jti, userId: user.userId, actorChain: chain, ...(user.kind === 'delegated' && { consentId: user.consentId }) };
  return refusingFor(concerned, async () => {
    const now = clock.now();
    let consent: ExchangeConsent | undefined;
    if (user.kind === 'delegated') {
      await asParameter('subject_token', services.tokens.inspect(params.subject_token!));
      [consent] = await services.consents.findConsents(db, [user.consentId]);
      // A later hop works under the subject token's consent alone: a purpose named must be its own.
      if (params.purpose !== undefined && consent?.purpose !== params.purpose) consent = undefined;
    } else {
      // The agent holds the user's own live token from now on, whatever the exchange answers: the
      // statement that reads the grounds records it, so that it no longer passes the token check.
      const handed = { jti: subject.claims.jti, familyId: subject.claims.sid, expiresAt: new Date(subject.claims.exp * 1_000) };
      const grounds = await findExchangeGrounds(db, { ...handed, userId: user.userId, agentId: agent.id }, now);
      if (grounds.revoked) throw invalidToken('subject_token', 'token revoked');
      if (!grounds.userActive) throw invalidToken('subject_token', 'user not active');
      consent = chooseConsent(grounds.consents, requested, params.purpose);
    }
    if (!consent) throw invalidRequest('the user has given this agent no consent in force', `no live consent${params.purpose ? ` for purpose ${params.purpose.slice(0, 64)}` : ''}`);

    const offline = requested?.includes(OFFLINE_ACCESS) ?? false;
    if (offline && !allowsOfflineAccess(agent.allowedScopes)) throw invalidScope("offline_access is beyond the client's allowed scopes");
    const delegatedFrom: readonly GrantLink[] = user.kind === 'delegated' ? (user.lineage ?? []) : [];
    // On a first hop the access token descends from the user's session, so signing out or changing
    // the password ends it; its refresh family, if any, stands on the consent alone.
    const descendsFrom: readonly GrantLink[] = user.kind === 'delegated' ? delegatedFrom : [{ jti: subject.claims.jti, ...(subject.claims.sid && { sid: subject.claims.sid }) }];
    if (offline && user.kind === 'delegated' && !subject.claims.sid) throw invalidScope('offline_access needs a subject token issued with a refresh token');
    const granted = intersectScopes(requested?.filter((scope) => scope !== OFFLINE_ACCESS), [user.scopes, new Set(agent.allowedScopes), new Set(consent.scopes)]);
    if (granted.length === 0) throw invalidScope("no requested scope lies within the subject token, the client's allowed scopes and the consent");
    // The agent's expiry too: a resource server verifying the token offline sees only `exp`. A
    // sub-agent expires no later than its ancestors (agent-registration.ts), so its own bounds the chain.
    const ttl = boundedLifetime(now, config.accessTokenTtl, [new Date(subject.claims.exp * 1_000), consent.expiresAt, agent.expiresAt]);
    if (ttl <= 0) throw invalidRequest('the subject token, the consent or the agent ends now');

    const scope = granted.join(' ');
    const familyId = offline ? newRefreshFamilyId() : undefined;
    const parentFamiliesEnd = offline ? await findRefreshFamiliesEnd(db, delegatedFrom.flatMap((link) => (link.sid ? [link.sid] : []))) : undefined;
    if (parentFamiliesEnd && parentFamiliesEnd <= now) throw invalidRequest("the subject token's refresh tokens have ended");
    const issued = await services.tokens.issueAccessToken(
      {
        sub: user.userId,
        client_id: agent.id,
        scope,
        act: actorOf(chain)!,
        consent_id: consent.id,
        purpose: consent.purpose,
        ...(familyId && { sid: familyId }),
        ...(descendsFrom.length > 0 && { delegated_from: descendsFrom }),
      },
      ttl,
      now,
    );
    const event = exchangeEvent(agent, user.userId, chain, consent, requestId, { scope, jti: issued.jti, refresh: offline });
    const response: TokenResponse = {
      access_token: issued.accessToken,
      issued_token_type: TOKEN_TYPES.accessToken,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: offline ? `${scope} ${OFFLINE_ACCESS}` : scope,
    };
    if (!offline) {
      services.audit.record(event);
      return response;
    }
    const refreshToken = await db.transaction().execute(async (tx) => {
      if (user.kind === 'user') await recheckFirstHopSubject(services, tx, user.userId, subject);
      await holdFamilyGrant(services, tx, { userId: user.userId, consentId: consent.id, actorChain: chain }, now);
      const notAfter = earliestOf(consent.expiresAt, parentFamiliesEnd);
      const grant = { userId: user.userId, clientId: agent.id, scope, authTime: now, familyId, consentId: consent.id, actorChain: chain, delegatedFrom, notAfter, requestId };
      const token = await issueRefreshToken(tx, services.keys.refreshTokenKey, grant, now);
      await auditInTransaction(tx, event, now);
      return token;
    });
    return { ...response, refresh_token: refreshToken };
  });
}

/**
 * Before a first hop's refresh family is stored: the user's row locked FOR SHARE, then the subject
 * token and its session read again. Nothing else links that family to the session, so a password
 * change (which updates the row, then revokes every refresh token of the user) either committed
 * before, and the exchange is refused here, or waits for the exchange to commit and then revokes
 * its family too. Without it, a change committing after the grounds were read would miss the new
 * token. The user's row first, the lock order of a password change and of erasure.
 * @throws OAuthError invalid_request, as for a subject token revoked or a user inactive at the grounds.
 */
async function recheckFirstHopSubject(services: Services, tx: Db, userId: string, subject: LiveToken): Promise<void> {
  if (!(await services.identity.isActiveForShare(tx, userId))) throw invalidToken('subject_token', 'user not active');
  const refusal = await services.tokens.userTokenRefusal(tx, subject.claims);
  if (refusal) throw invalidToken('subject_token', refusal);
}

/**
 * Before a refresh family is stored: the consent and the agents it stands on, held as they are now
 * (`ConsentService.holdGrant`). A withdrawal, decommissioning or suspension that committed since
 * they were read refuses the exchange here, rather than answering a pair issued after it; one
 * committing meanwhile waits for the family, and revokes it.
 * @throws OAuthError invalid_request, as for no consent in force or a user inactive at the grounds.
 */
async function holdFamilyGrant(services: Services, tx: Db, grant: Parameters<Services['consents']['holdGrant']>[1], now: Date): Promise<void> {
  try {
    await services.consents.holdGrant(tx, grant, now);
  } catch (error) {
    if (error instanceof UnauthenticatedError) throw invalidToken('subject_token', 'user not active');
    if (error instanceof ForbiddenError) throw invalidRequest('the user has given this agent no consent in force', `grant ended: ${error.reason}`);
    throw error;
  }
}

/** The token's answer, or `invalid_request` naming which parameter failed and why (the why for the audit only). */
async function asParameter(name: string, reading: Promise<LiveToken>): Promise<LiveToken> {
  try {
    return await reading;
  } catch (error) {
    if (error instanceof InvalidTokenError) throw invalidToken(name, error.message);
    throw error;
  }
}

/** RFC 8693 §2.2.2's answer to a subject or actor token that is invalid: why, for the audit only. */
const invalidToken = (name: string, why: string) => new OAuthError(400, 'invalid_request', `${name} is invalid`, `${name}: ${why}`);

/**
 * Of the user's live consents naming the agent (newest first), the one for `purpose` if named
 * (a hub extension parameter), else the one covering most of the requested scopes, else the newest.
 */
function chooseConsent(consents: readonly ExchangeConsent[], requested: readonly string[] | undefined, purpose: string | undefined): ExchangeConsent | undefined {
  const candidates = purpose === undefined ? consents : consents.filter((consent) => consent.purpose === purpose);
  if (!requested) return candidates[0];
  const covered = (consent: ExchangeConsent) => requested.filter((scope) => scopeWithin(scope, new Set(consent.scopes))).length;
  return candidates.reduce<ExchangeConsent | undefined>((best, consent) => (best === undefined || covered(consent) > covered(best) ? consent : best), undefined);
}

function exchangeEvent(agent: Agent, userId: string, chain: readonly string[], consent: ExchangeConsent, requestId: string, detail: Record<string, unknown>): AuditEventInput {
  return {
    action: 'token.exchanged',
    actor: { kind: 'delegated', id: agent.id },
    actorChain: chain,
    subjectUserId: userId,
    clientId: agent.id,
    purpose: consent.purpose,
    consentId: consent.id,
    decision: 'ALLOW',
    requestId,
    detail,
  };
}
