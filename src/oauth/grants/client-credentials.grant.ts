import type { Services } from '../../app.js';
import { OFFLINE_ACCESS, parseScope, scopeWithin } from '../../authz/scopes.js';
import { invalidClient, requireAgent } from '../client-auth.js';
import { boundedLifetime } from '../delegation.js';
import { invalidScope } from '../oauth-error.js';
import { checkAudience, type TokenRequest, type TokenResponse } from '../token.endpoint.js';

/**
 * `grant_type=client_credentials` (RFC 6749 §4.4): an agent acting as itself. The token's `sub`
 * and `client_id` are the agent; its scope is the one requested, each within the agent's
 * `allowedScopes` (else `invalid_scope`), or all of them by default. No refresh token (§4.4.3).
 * The token ends by the agent's `expiresAt`: a resource server verifying it offline sees only `exp`.
 * Issuance changes no state, so its audit event goes through the buffered writer.
 */
export async function clientCredentialsGrant(services: Services, { params, client, requestId }: TokenRequest): Promise<TokenResponse> {
  const agent = requireAgent(client);
  checkAudience(services, params);
  const ceiling = new Set(agent.allowedScopes.filter((scope) => scope !== OFFLINE_ACCESS));
  const requested = params.scope === undefined ? [...ceiling] : parseScope(params.scope);
  const beyond = requested.find((scope) => !scopeWithin(scope, ceiling));
  if (beyond !== undefined) throw invalidScope(`${beyond.slice(0, 64)} is beyond the client's allowed scopes`);
  if (requested.length === 0) throw invalidScope('the client is allowed no scope');
  const scope = requested.join(' ');
  const now = services.clock.now();
  const ttl = boundedLifetime(now, services.config.accessTokenTtl, [agent.expiresAt]);
  // Authenticated while live, but within the second it expires: a token would be born expired.
  if (ttl <= 0) throw invalidClient('agent expired');
  const issued = await services.tokens.issueAccessToken({ sub: agent.id, client_id: agent.id, scope }, ttl, now);
  services.audit.record({
    action: 'token.issued',
    actor: { kind: 'client', id: agent.id },
    clientId: agent.id,
    decision: 'ALLOW',
    requestId,
    detail: { grantType: 'client_credentials', scope, jti: issued.jti },
  });
  return { access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresIn, scope };
}
