import type { Services } from '../app.js';
import type { OAuthClient } from './client-auth.js';
import { TOKEN_EXCHANGE_GRANT } from './delegation.js';
import { clientCredentialsGrant } from './grants/client-credentials.grant.js';
import { refreshTokenGrant } from './grants/refresh-token.grant.js';
import { tokenExchangeGrant } from './grants/token-exchange.grant.js';
import { invalidRequest, invalidTarget, OAuthError } from './oauth-error.js';
import type { OAuthHttpRequest, RunOAuthRequest } from './oauth-request.js';

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
 * `/oauth/token`: form parameters in, a token response or an OAuthError out. After the steps
 * every OAuth endpoint shares (parameters, credentials presented, throttle: see
 * `createOAuthRequestRunner`): the grant type; the client's credentials checked; the grant.
 * Every refusal is audited with its reason; every token issued is counted by its grant type.
 */
export function createTokenEndpoint(services: Services, run: RunOAuthRequest) {
  return function handleTokenRequest(body: unknown, http: OAuthHttpRequest): Promise<TokenResponse> {
    return run('token', body, http, async (params, authenticate) => {
      const grantType = params.grant_type;
      if (!grantType) throw invalidRequest('grant_type is required');
      const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
      if (!grant) throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${grantType.slice(0, 80)} is not supported`);
      const response = await grant(services, { params, requestId: http.requestId, client: await authenticate() });
      services.metrics.tokensIssued.inc({ grant_type: grantType });
      return response;
    });
  };
}

/** `audience` and `resource` (RFC 8707) may only name the hub's own API. @throws OAuthError invalid_target. */
export function checkAudience(services: Pick<Services, 'config'>, params: Record<string, string>): void {
  for (const name of ['audience', 'resource'] as const) {
    if (params[name] !== undefined && params[name] !== services.config.audience) throw invalidTarget(`${name} must be ${services.config.audience}`);
  }
}
