import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { startTestHub } from '../helpers/hub.js';
import { TOKEN_EXCHANGE } from '../helpers/oauth.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub({ HUB_ISSUER: 'https://hub.example.com' });
});
afterAll(() => hub.close());

const get = async (url: string) => {
  const response = await hub.http.inject({ method: 'GET', url });
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) };
};

describe('discovery', () => {
  it('serves RFC 8414 authorization server metadata with every field API.md names', async () => {
    const response = await get('/.well-known/oauth-authorization-server');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      issuer: 'https://hub.example.com',
      token_endpoint: 'https://hub.example.com/oauth/token',
      jwks_uri: 'https://hub.example.com/jwks.json',
      introspection_endpoint: 'https://hub.example.com/oauth/introspect',
      revocation_endpoint: 'https://hub.example.com/oauth/revoke',
      grant_types_supported: ['client_credentials', TOKEN_EXCHANGE, 'refresh_token'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      scopes_supported: expect.arrayContaining(['profile:read', 'payment:write', 'users:admin', 'webhooks:admin', 'offline_access']),
    });
  });

  it('serves RFC 9728 metadata for the GraphQL resource, at the bare and the path-suffixed address', async () => {
    for (const url of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/graphql']) {
      const response = await get(url);
      expect(response.body).toEqual({
        resource: 'https://hub.example.com/graphql',
        authorization_servers: ['https://hub.example.com'],
        jwks_uri: 'https://hub.example.com/jwks.json',
        scopes_supported: expect.arrayContaining(['orders:read']),
        bearer_methods_supported: ['header'],
        resource_name: 'Identity and consent hub GraphQL API',
      });
    }
  });
});
