import type { Services } from '../app.js';
import { refreshTokenGrant } from './grants/refresh-token.grant.js';
import { invalidRequest, OAuthError } from './oauth-error.js';

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
}

type Grant = (services: Services, request: TokenRequest) => Promise<TokenResponse>;

/** One handler per grant type; anything else is `unsupported_grant_type`. */
export const GRANTS: Readonly<Record<string, Grant>> = Object.freeze({
  refresh_token: refreshTokenGrant,
});

/**
 * `/oauth/token`: form parameters in, a token response or an OAuthError out. Parameters may not
 * repeat (RFC 6749 §3.2) and must be strings.
 */
export async function handleTokenRequest(services: Services, body: unknown, requestId: string): Promise<TokenResponse> {
  const params = formParams(body);
  const grantType = params.grant_type;
  if (!grantType) throw invalidRequest('grant_type is required');
  const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
  if (!grant) throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${grantType.slice(0, 80)} is not supported`);
  return grant(services, { params, requestId });
}

/** @throws OAuthError invalid_request for a body that is not flat, single-valued form data. */
export function formParams(body: unknown): Record<string, string> {
  if (body === null || typeof body !== 'object') throw invalidRequest('the body must be application/x-www-form-urlencoded');
  const params: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(body)) {
    if (typeof value !== 'string') throw invalidRequest(`parameter ${key.slice(0, 40)} must appear once`);
    if (value !== '') params[key] = value;
  }
  return params;
}
