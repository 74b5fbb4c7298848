import { OPERATOR_SCOPES } from '../authz/principal.js';
import { ALL_DATA_SCOPES, OFFLINE_ACCESS } from '../authz/scopes.js';
import type { Config } from '../config.js';
import { TOKEN_ENDPOINT_AUTH_METHODS } from './client-auth.js';
import { GRANTS } from './token.endpoint.js';

/** Every scope a client may ask for by name; single-field scopes (`contact.email:read`) too, though not listed. */
const SCOPES = [...ALL_DATA_SCOPES, ...OPERATOR_SCOPES, OFFLINE_ACCESS];

/**
 * RFC 8414 authorization server metadata, at `/.well-known/oauth-authorization-server`. The hub
 * has no authorization endpoint (users sign in through GraphQL), so it lists no response type.
 */
export function authorizationServerMetadata(config: Pick<Config, 'issuer'>) {
  return {
    issuer: config.issuer,
    token_endpoint: `${config.issuer}/oauth/token`,
    jwks_uri: `${config.issuer}/jwks.json`,
    introspection_endpoint: `${config.issuer}/oauth/introspect`,
    revocation_endpoint: `${config.issuer}/oauth/revoke`,
    grant_types_supported: Object.keys(GRANTS),
    response_types_supported: [],
    // `none`: the hub's own public frontend client refreshes its sessions and revokes its tokens
    // with no secret; introspection takes one.
    token_endpoint_auth_methods_supported: [...TOKEN_ENDPOINT_AUTH_METHODS, 'none'],
    introspection_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: [...TOKEN_ENDPOINT_AUTH_METHODS, 'none'],
    scopes_supported: SCOPES,
  };
}

/**
 * Where the authorization server's metadata is served, built from the issuer as RFC 8414 §3.1 says:
 * the well-known prefix between its host and its path. A client that learnt the issuer from the
 * resource's `authorization_servers` looks there alone; the bare path serves an issuer without one.
 */
export function authorizationServerMetadataPath(config: Pick<Config, 'issuer'>): string {
  return wellKnownPath('oauth-authorization-server', config.issuer);
}

/**
 * Where the resource's metadata is served, built from its identifier (`HUB_AUDIENCE`) as RFC 9728
 * §3.1 says: the well-known prefix between its host and its path. A client refuses metadata found
 * elsewhere than where its `resource` says (§3.3).
 */
export function resourceMetadataUrl(config: Pick<Config, 'audience'>): string {
  const { origin } = new URL(config.audience);
  return `${origin}${resourceMetadataPath(config)}`;
}

/** The path of `resourceMetadataUrl`, which the hub serves, with the bare well-known path. */
export function resourceMetadataPath(config: Pick<Config, 'audience'>): string {
  return wellKnownPath('oauth-protected-resource', config.audience);
}

/** The well-known document `name` of `url`: its prefix between the host and the path (RFC 8414 §3.1, RFC 9728 §3.1). */
const wellKnownPath = (name: string, url: string) => `/.well-known/${name}${new URL(url).pathname.replace(/\/$/, '')}`;

/**
 * RFC 9728 metadata of the GraphQL API, the one resource the hub's tokens are for. Its `jwks_uri`
 * holds the keys the resource signs its answers with (§2): the consent receipts, which verify
 * against every key that ever signed. The keys that verify tokens are the authorization server's,
 * found through `authorization_servers`, and leave `/jwks.json` long before a receipt expires.
 */
export function protectedResourceMetadata(config: Pick<Config, 'issuer' | 'audience'>) {
  return {
    resource: config.audience,
    authorization_servers: [config.issuer],
    jwks_uri: `${config.issuer}/receipts/jwks.json`,
    scopes_supported: SCOPES,
    bearer_methods_supported: ['header'],
    resource_name: 'Identity and consent hub GraphQL API',
  };
}
