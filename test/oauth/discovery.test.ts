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
      // The frontend's public client refreshes its sessions without a secret (RFC 8414 `none`).
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
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
        jwks_uri: 'https://hub.example.com/receipts/jwks.json',
        scopes_supported: expect.arrayContaining(['orders:read']),
        bearer_methods_supported: ['header'],
        resource_name: 'Identity and consent hub GraphQL API',
      });
    }
  });

  it('names the metadata address a refused request is pointed to, built from the resource as RFC 9728 §3.1 says', async () => {
    const refused = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', authorization: 'Bearer x.y.z' }, payload: '{"query":"{ me { id } }"}' });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('resource_metadata="https://hub.example.com/.well-known/oauth-protected-resource/graphql"');
  });
});

describe('discovery of a resource named apart from the issuer (HUB_AUDIENCE)', () => {
  let apart: Hub;
  beforeAll(async () => {
    apart = await startTestHub({ HUB_ISSUER: 'https://hub.example.com', HUB_AUDIENCE: 'https://api.example.com/v1/graphql' });
  });
  afterAll(() => apart.close());

  it('points a refused request to the metadata at the address built from that resource, and serves it there', async () => {
    const refused = await apart.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', authorization: 'Bearer x.y.z' }, payload: '{"query":"{ me { id } }"}' });
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(String(refused.headers['www-authenticate']))![1]!;
    expect(metadataUrl).toBe('https://api.example.com/.well-known/oauth-protected-resource/v1/graphql');
    const served = await apart.http.inject({ method: 'GET', url: new URL(metadataUrl).pathname, headers: { origin: 'https://shop.example' } });
    expect(served.statusCode).toBe(200);
    expect(served.headers['access-control-allow-origin']).toBe('*');
    expect(served.json()).toMatchObject({ resource: 'https://api.example.com/v1/graphql', authorization_servers: ['https://hub.example.com'] });
  });
});
