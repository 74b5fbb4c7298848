import type { Services } from '../app.js';
import type { Agent } from '../agents/agent.service.js';
import { MAX_CLIENT_ID_LENGTH } from '../agents/agent-authentication.js';
import { invalidRequest, OAuthError } from './oauth-error.js';
import { FRONTEND_CLIENT_ID } from './token.service.js';

/** The client of an OAuth request once its credentials are checked. */
export type OAuthClient =
  | { readonly kind: 'agent'; readonly agent: Agent }
  /** The hub's own frontend: a public client, identified by `client_id` alone. */
  | { readonly kind: 'public'; readonly clientId: typeof FRONTEND_CLIENT_ID }
  /** No credentials at all (perhaps a `client_id` that is not a public client's). */
  | { readonly kind: 'none'; readonly claimedId: string | undefined };

/** Client credentials as presented, before any check. */
export interface PresentedCredentials {
  readonly method: 'client_secret_basic' | 'client_secret_post' | 'none';
  readonly clientId: string | undefined;
  readonly secret?: string;
}

/** The client authentication methods of RFC 6749 §2.3.1 the hub takes, as RFC 8414 names them. */
export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

/** RFC 6749 §2.3.1 asks for this answer to a failed authentication, whatever the method tried. */
export const invalidClient = (detail: string) =>
  new OAuthError(401, 'invalid_client', 'client authentication failed', detail, { 'www-authenticate': 'Basic realm="hub", charset="UTF-8"' });

const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i;

/** RFC 6749 Appendix A: `client_id` and `client_secret` are VSCHAR (0x20-0x7E), and nothing else reaches the database. */
const VSCHARS = /^[\x20-\x7e]*$/;

/** `application/x-www-form-urlencoded` decoding, as RFC 6749 §2.3.1 asks of both id and secret. */
function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw invalidClient('malformed Basic credentials');
  }
}

/**
 * The credentials a request presents: HTTP Basic (RFC 6749 §2.3.1, id and secret each
 * form-urlencoded), or `client_id` and `client_secret` in the body. Exactly one method: both at
 * once is `invalid_request`. A `client_id` must be 1 to MAX_CLIENT_ID_LENGTH VSCHAR characters
 * and a secret VSCHAR, else `invalid_client`: no client has any other, and the checks that follow
 * (the throttle's buckets, the database) take only such. No check of their truth happens here.
 * @throws OAuthError invalid_request or invalid_client for malformed credentials.
 */
export function presentedCredentials(authorization: string | undefined, params: Record<string, string>): PresentedCredentials {
  const presented = credentialsOf(authorization, params);
  const { clientId, secret } = presented;
  if (clientId === '') throw invalidClient('empty client_id');
  if (clientId !== undefined && clientId.length > MAX_CLIENT_ID_LENGTH) throw invalidClient(`client_id longer than ${MAX_CLIENT_ID_LENGTH} characters`);
  if (clientId !== undefined && !VSCHARS.test(clientId)) throw invalidClient('client_id has characters outside VSCHAR');
  if (secret !== undefined && !VSCHARS.test(secret)) throw invalidClient('client secret has characters outside VSCHAR');
  return presented;
}

function credentialsOf(authorization: string | undefined, params: Record<string, string>): PresentedCredentials {
  if (authorization !== undefined) {
    const encoded = BASIC.exec(authorization)?.[1];
    if (!encoded) throw invalidClient('Authorization header is not Basic');
    if (params.client_secret !== undefined) throw invalidRequest('use one client authentication method, not two');
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidClient('malformed Basic credentials');
    const clientId = formDecode(decoded.slice(0, colon));
    if (params.client_id !== undefined && params.client_id !== clientId) throw invalidRequest('client_id differs from the authenticated client');
    return { method: 'client_secret_basic', clientId, secret: formDecode(decoded.slice(colon + 1)) };
  }
  if (params.client_secret !== undefined) {
    if (params.client_id === undefined) throw invalidRequest('client_secret needs client_id');
    return { method: 'client_secret_post', clientId: params.client_id, secret: params.client_secret };
  }
  return { method: 'none', clientId: params.client_id };
}

/**
 * Checks presented credentials. A secret is checked against the agent's, in constant time; a
 * suspended, decommissioned or expired agent (or one whose parent is no longer active) fails
 * like a wrong secret. Without a secret, only the frontend's `client_id` means anything.
 * @throws OAuthError invalid_client (401, with `WWW-Authenticate`) for credentials that fail.
 */
export async function authenticateClient(services: Pick<Services, 'agents'>, presented: PresentedCredentials): Promise<OAuthClient> {
  if (presented.method === 'none') {
    return presented.clientId === FRONTEND_CLIENT_ID ? { kind: 'public', clientId: FRONTEND_CLIENT_ID } : { kind: 'none', claimedId: presented.clientId };
  }
  const result = await services.agents.authenticateClient(presented.clientId ?? '', presented.secret ?? '');
  if (!result.ok) throw invalidClient(result.reason);
  return { kind: 'agent', agent: result.agent };
}

/** The agent a grant or endpoint requires. @throws OAuthError invalid_client for any other client. */
export function requireAgent(client: OAuthClient): Agent {
  if (client.kind === 'agent') return client.agent;
  throw invalidClient(client.kind === 'public' ? 'public client cannot use this' : 'no client authentication');
}
