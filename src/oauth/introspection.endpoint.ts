import type { Services } from '../app.js';
import type { Agent } from '../agents/agent.service.js';
import { InvalidTokenError, type Actor } from './access-token.js';
import { requireAgent, type OAuthClient } from './client-auth.js';
import { actorOf } from './delegation.js';
import { invalidRequest } from './oauth-error.js';
import { introspectPaymentToken } from './payment-token.js';
import { findRefreshToken } from './refresh-token.queries.js';
import { findRefreshTokenRefusal, hashRefreshToken, MAX_REFRESH_TOKEN_LENGTH } from './refresh-tokens.js';

/** The RFC 7662 §2.2 answer; everything but `active` only for an active token. */
export interface IntrospectionResponse {
  readonly active: boolean;
  readonly scope?: string;
  readonly client_id?: string;
  readonly sub?: string;
  readonly exp?: number;
  readonly iat?: number;
  readonly iss?: string;
  readonly aud?: string;
  readonly token_type?: string;
  readonly jti?: string;
  readonly act?: Actor;
  readonly consent_id?: string;
  readonly purpose?: string;
  /** RFC 9396 §9.1: what a payment token was issued for. */
  readonly authorization_details?: readonly Record<string, unknown>[];
}

const INACTIVE: IntrospectionResponse = Object.freeze({ active: false });

/**
 * Whose tokens a client may introspect: its own (the token's `client_id` is the caller), and
 * every token if it is an operator client with `agents:admin` in its allowed scopes.
 */
function callersBusiness(caller: Agent, clientId: string): boolean {
  return clientId === caller.id || (caller.ownerKind === 'operator' && caller.allowedScopes.includes('agents:admin'));
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1_000);

/**
 * `/oauth/introspect` (RFC 7662), for authenticated agents only. Starts from `{ active: false }`
 * and says more only for a token the hub issued, that is live now (signature, expiry, revocation,
 * its user, every agent of its chain, its consent: for a refresh token, what its grant checks)
 * and that is the caller's business. Access tokens are tried first unless
 * `token_type_hint=refresh_token`. An active answer about a person's token is a read of their
 * data, recorded in their trail (`recordIntrospection`); an inactive one tells nothing of anyone.
 * @throws OAuthError invalid_client without client authentication, invalid_request without `token`.
 */
export async function introspect(services: Services, params: Record<string, string>, client: OAuthClient, requestId: string): Promise<IntrospectionResponse> {
  const caller = requireAgent(client);
  const token = params.token;
  if (!token) throw invalidRequest('token is required');
  const order = params.token_type_hint === 'refresh_token' ? [asRefreshToken, asAccessToken, asPaymentToken] : [asAccessToken, asPaymentToken, asRefreshToken];
  for (const attempt of order) {
    const answer = await attempt(services, token, caller);
    if (!answer) continue;
    recordIntrospection(services, caller, answer, requestId);
    return answer;
  }
  return INACTIVE;
}

/**
 * An active answer about a person's token (`sub` a user) held by another client tells the caller whose it is, which
 * client holds it, for what scope, under which consent and purpose and through which agents: what
 * the person's export lists as their `sessions`; for a payment token, the approval it was issued
 * for with its payment (`authorization_details`), read as `approval(id)` reads them: `approvals`
 * and `paymentMethods`. Recorded in their trail as a `profile.read` by the caller, as a read of
 * their data through GraphQL is, with the token's holder, consent and `jti` in `detail`: the
 * consent is the token's, not one the caller read under. The holder asking of its own token learns
 * nothing it was not given with it, and records nothing; nor does any read with
 * `HUB_AUDIT_READS=false`, as GraphQL reads do not. Never throws.
 */
function recordIntrospection(services: Services, caller: Agent, answer: IntrospectionResponse, requestId: string): void {
  if (!services.config.auditReads || !answer.active || !answer.sub?.startsWith('usr_') || answer.client_id === caller.id) return;
  services.audit.record({
    action: 'profile.read',
    actor: { kind: 'client', id: caller.id },
    clientId: caller.id,
    subjectUserId: answer.sub,
    fieldsRead: answer.authorization_details ? ['approvals', 'paymentMethods'] : ['sessions'],
    decision: 'ALLOW',
    requestId,
    detail: { endpoint: 'introspect', heldBy: answer.client_id, ...(answer.consent_id && { consentId: answer.consent_id }), ...(answer.jti && { jti: answer.jti }) },
  });
}

async function asAccessToken(services: Services, token: string, caller: Agent): Promise<IntrospectionResponse | undefined> {
  if (!token.includes('.')) return undefined;
  try {
    const { claims } = await services.tokens.inspect(token);
    if (!callersBusiness(caller, claims.client_id)) return INACTIVE;
    return {
      active: true,
      scope: claims.scope,
      client_id: claims.client_id,
      sub: claims.sub,
      exp: claims.exp,
      iat: claims.iat,
      iss: services.config.issuer,
      aud: services.config.audience,
      token_type: 'Bearer',
      jti: claims.jti,
      ...(claims.act && { act: claims.act }),
      ...(claims.consent_id && { consent_id: claims.consent_id }),
      ...(claims.purpose && { purpose: claims.purpose }),
    };
  } catch (error) {
    if (error instanceof InvalidTokenError) return undefined;
    throw error;
  }
}

const asPaymentToken = (services: Services, token: string, caller: Agent) => introspectPaymentToken(services, token, (clientId) => callersBusiness(caller, clientId));

async function asRefreshToken(services: Services, token: string, caller: Agent): Promise<IntrospectionResponse | undefined> {
  if (token.length > MAX_REFRESH_TOKEN_LENGTH) return undefined;
  const row = await findRefreshToken(services.db, hashRefreshToken(token));
  const now = services.clock.now();
  if (!row || row.revoked_at || row.rotated_at || row.expires_at <= now) return undefined;
  if (!callersBusiness(caller, row.client_id)) return INACTIVE;
  if (await findRefreshTokenRefusal(services, services.db, row)) return INACTIVE;
  const act = actorOf(row.actor_chain);
  return {
    active: true,
    scope: row.scope,
    client_id: row.client_id,
    sub: row.user_id,
    exp: seconds(row.expires_at),
    iat: seconds(row.created_at),
    iss: services.config.issuer,
    token_type: 'refresh_token',
    ...(act && { act }),
    ...(row.consent_id && { consent_id: row.consent_id }),
  };
}
