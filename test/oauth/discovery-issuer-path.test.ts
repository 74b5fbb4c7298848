import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { startTestHub } from '../helpers/hub.js';

// RFC 8414 §3.1: for an issuer with a path, the metadata is at the well-known prefix between the
// host and that path. A client that found the issuer in the RFC 9728 metadata's
// `authorization_servers` (an MCP client, say) looks there and nowhere else, as the hub already
// serves its resource metadata at the path-inserted address.
let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub({ HUB_ISSUER: 'https://shop.example/identity', HUB_AUDIENCE: 'https://shop.example/identity/graphql' });
});
afterAll(() => hub.close());

describe('discovery of an issuer with a path', () => {
  it('serves the RFC 8414 metadata at the path-inserted well-known address, naming that issuer', async () => {
    const resource = await hub.http.inject({ method: 'GET', url: '/.well-known/oauth-protected-resource/identity/graphql' });
    expect(resource.statusCode).toBe(200);
    const [issuer] = JSON.parse(resource.body).authorization_servers as string[];
    expect(issuer).toBe('https://shop.example/identity');
    const { pathname } = new URL(issuer!);
    const response = await hub.http.inject({ method: 'GET', url: `/.well-known/oauth-authorization-server${pathname}` });
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ issuer: 'https://shop.example/identity', token_endpoint: 'https://shop.example/identity/oauth/token' });
  });

  it('lets any page read it there, as the other discovery documents', async () => {
    const response = await hub.http.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server/identity', headers: { origin: 'https://elsewhere.example' } });
    expect(response.headers['access-control-allow-origin']).toBe('*');
  });
});
