import type { Services } from '../app.js';
import { MAX_CLIENT_ID_LENGTH } from '../agents/agent-authentication.js';
import { authenticateClient, invalidClient, presentedCredentials, type OAuthClient } from './client-auth.js';
import { ClientThrottle } from './client-throttle.js';
import { TOKEN_EXCHANGE_GRANT } from './delegation.js';
import { clientCredentialsGrant } from './grants/client-credentials.grant.js';
import { refreshTokenGrant } from './grants/refresh-token.grant.js';
import { tokenExchangeGrant } from './grants/token-exchange.grant.js';
import { recordRefusal } from './oauth-audit.js';
import { invalidRequest, invalidTarget, OAuthError } from './oauth-error.js';
import { formParams, type OAuthHttpRequest } from './oauth-request.js';

/** The RFC 6749 §5.1 success body (with RFC 8693's `issued_token_type` where it applies). */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly refresh_token?: string;
  readonly scope?: string;
  readonly issued_token_type?: string;
}

/** What a grant knows of the request beyond its parameters. */
export interface TokenRequest {
  readonly params: Record<string, string>;
  readonly requestId: string;
  /** The client, its credentials checked; a grant decides which kinds it serves. */
  readonly client: OAuthClient;
}

type Grant = (services: Services, request: TokenRequest) => Promise<TokenResponse>;

/** One handler per grant type; anything else is `unsupported_grant_type`. */
export const GRANTS: Readonly<Record<string, Grant>> = Object.freeze({
  client_credentials: clientCredentialsGrant,
  [TOKEN_EXCHANGE_GRANT]: tokenExchangeGrant,
  refresh_token: refreshTokenGrant,
});

/**
 * `/oauth/token`: form parameters in, a token response or an OAuthError out. Steps: parameters
 * (flat, single-valued); the credentials presented (one method, a `client_id` no longer than any
 * client's, else `invalid_client`); the throttle (429 with `Retry-After`, before anything touches
 * the database), per claimed client and address for a request that presents a secret, per
 * address for one that presents none, so that naming a client without its secret cannot spend
 * that client's bucket; the grant type; the client's credentials checked; the grant. Every
 * refusal is audited with its reason.
 */
export function createTokenEndpoint(services: Services) {
  const throttle = new ClientThrottle(services.config.tokenRateLimit);

  return async function handleTokenRequest(body: unknown, http: OAuthHttpRequest): Promise<TokenResponse> {
    let claimedId: string | undefined;
    let client: OAuthClient | undefined;
    let audit = true;
    try {
      const params = formParams(body);
      const presented = presentedCredentials(http.authorization, params);
      claimedId = presented.clientId;
      if (claimedId !== undefined && claimedId.length > MAX_CLIENT_ID_LENGTH) throw invalidClient(`client_id longer than ${MAX_CLIENT_ID_LENGTH} characters`);
      const answer = throttle.take(presented.secret === undefined ? undefined : claimedId, http.address);
      if (!answer.allowed) {
        // A flood is audited once per run of refusals, so it cannot flood the trail instead.
        audit = answer.firstRefusal;
        throw new OAuthError(429, 'slow_down', `too many requests; retry after ${answer.retryAfterSeconds} s`, 'rate limited', {
          'retry-after': String(answer.retryAfterSeconds),
        });
      }
      const grantType = params.grant_type;
      if (!grantType) throw invalidRequest('grant_type is required');
      const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
      if (!grant) throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${grantType.slice(0, 80)} is not supported`);
      client = await authenticateClient(services, presented);
      return await grant(services, { params, requestId: http.requestId, client });
    } catch (error) {
      if (error instanceof OAuthError && audit) recordRefusal(services, error, { client, claimedId, endpoint: 'token', requestId: http.requestId });
      throw error;
    }
  };
}

/** `audience` and `resource` (RFC 8707) may only name the hub's own API. @throws OAuthError invalid_target. */
export function checkAudience(services: Pick<Services, 'config'>, params: Record<string, string>): void {
  for (const name of ['audience', 'resource'] as const) {
    if (params[name] !== undefined && params[name] !== services.config.audience) throw invalidTarget(`${name} must be ${services.config.audience}`);
  }
}
