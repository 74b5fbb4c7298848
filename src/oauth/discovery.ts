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
    token_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS,
    introspection_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: [...TOKEN_ENDPOINT_AUTH_METHODS, 'none'],
    scopes_supported: SCOPES,
  };
}

/** RFC 9728 metadata of the GraphQL API, the one resource the hub's tokens are for. */
/** Where the resource's metadata is served (RFC 9728 §3.1: its path after the well-known prefix). */
export const resourceMetadataUrl = (config: Pick<Config, 'issuer'>) => `${config.issuer}/.well-known/oauth-protected-resource/graphql`;

export function protectedResourceMetadata(config: Pick<Config, 'issuer' | 'audience'>) {
  return {
    resource: config.audience,
    authorization_servers: [config.issuer],
    jwks_uri: `${config.issuer}/jwks.json`,
    scopes_supported: SCOPES,
    bearer_methods_supported: ['header'],
    resource_name: 'Identity and consent hub GraphQL API',
  };
}
