import type { Services } from '../app.js';
import { authenticateClient, presentedCredentials, type OAuthClient } from './client-auth.js';
import { recordRefusal } from './oauth-audit.js';
import { invalidRequest, OAuthError } from './oauth-error.js';

/** The HTTP facts of a request to an OAuth endpoint. */
export interface OAuthHttpRequest {
  readonly requestId: string;
  readonly address: string;
  readonly authorization: string | undefined;
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

/**
 * Runs an endpoint other than `/oauth/token` in its fixed steps: the form parameters, the client's
 * credentials (one method, checked), then `work`. Any refusal is audited before it is thrown.
 */
export async function withAuthenticatedClient<T>(
  services: Services,
  body: unknown,
  http: OAuthHttpRequest,
  endpoint: 'introspect' | 'revoke',
  work: (params: Record<string, string>, client: OAuthClient) => Promise<T>,
): Promise<T> {
  let claimedId: string | undefined;
  let client: OAuthClient | undefined;
  try {
    const params = formParams(body);
    const presented = presentedCredentials(http.authorization, params);
    claimedId = presented.clientId;
    client = await authenticateClient(services, presented);
    return await work(params, client);
  } catch (error) {
    if (error instanceof OAuthError) recordRefusal(services, error, { client, claimedId, endpoint, requestId: http.requestId });
    throw error;
  }
}
