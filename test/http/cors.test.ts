import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

const FRONTEND = 'https://app.example.com';
const STRANGER = 'https://evil.example';

let hub: Hub;
let closedHub: Hub;
beforeAll(async () => {
  [hub, closedHub] = await Promise.all([startTestHub({ HUB_CORS_ORIGINS: `${FRONTEND},http://localhost:5173` }), startTestHub()]);
});
afterAll(() => Promise.all([hub.close(), closedHub.close()]));

/** A browser's preflight before a POST that carries a bearer token and a JSON body. */
function preflight(target: Pick<Hub, 'http'>, url: string, origin: string, method = 'POST') {
  return target.http.inject({
    method: 'OPTIONS',
    url,
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type' },
  });
}

const corsHeaders = (headers: Record<string, unknown>) => Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-')));

describe('a frontend on an allowed origin', () => {
  it.each(['/graphql', '/oauth/token', '/oauth/revoke', '/users/usr_01J00000000000000000000000/export'])('gets its preflight to %s answered', async (url) => {
    const response = await preflight(hub, url, FRONTEND);
    expect(response.statusCode).toBe(204);
    expect(corsHeaders(response.headers)).toEqual({
      'access-control-allow-origin': FRONTEND,
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id',
      'access-control-expose-headers': 'www-authenticate, retry-after, x-request-id',
      'access-control-max-age': '600',
    });
    expect(response.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('reads a query sent by GET, its path followed by the query string', async () => {
    const url = `/graphql?query=${encodeURIComponent('{ __typename }')}`;
    const asked = await preflight(hub, url, FRONTEND, 'GET');
    expect(asked.statusCode).toBe(204);
    expect(asked.headers['access-control-allow-origin']).toBe(FRONTEND);
    const response = await hub.http.inject({ method: 'GET', url, headers: { origin: FRONTEND, 'apollo-require-preflight': 'true' } });
    expect(response.json()).toEqual({ data: { __typename: 'Query' } });
    expect(response.headers['access-control-allow-origin']).toBe(FRONTEND);
  });

  it('reads its own profile across origins, with no credentials mode', async () => {
    const user = await signUpUser(hub);
    const response = await graphql<{ me: { id: string } }>(hub, '{ me { id } }', { token: user.accessToken, headers: { origin: 'http://localhost:5173' } });
    expect(response.data).toEqual({ me: { id: user.id } });
    expect(response.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('can read a refusal of its token: the 401 and its challenge carry CORS too', async () => {
    const response = await graphql(hub, '{ me { id } }', { token: 'not-a-token', headers: { origin: FRONTEND } });
    expect(response.status).toBe(401);
    expect(response.headers['access-control-allow-origin']).toBe(FRONTEND);
    expect(response.headers['access-control-expose-headers']).toContain('www-authenticate');
  });

  it('refreshes its session at /oauth/token across origins', async () => {
    const user = await signUpUser(hub);
    const response = await hub.http.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { origin: FRONTEND, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: 'hub-frontend' }).toString(),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ token_type: 'Bearer' });
    expect(response.headers['access-control-allow-origin']).toBe(FRONTEND);
  });

  it('gets no CORS from introspection, which takes a client secret no browser keeps, nor from health', async () => {
    expect((await preflight(hub, '/oauth/introspect', FRONTEND)).headers['access-control-allow-origin']).toBeUndefined();
    const introspect = await hub.http.inject({ method: 'POST', url: '/oauth/introspect', headers: { origin: FRONTEND, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=x' });
    expect(corsHeaders(introspect.headers)).toEqual({});
    const health = await hub.http.inject({ method: 'GET', url: '/healthz', headers: { origin: FRONTEND } });
    expect(corsHeaders(health.headers)).toEqual({});
  });

  it('is still refused a simple request, which a browser sends cross-site without a preflight', async () => {
    const plain = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { origin: FRONTEND, 'content-type': 'text/plain' }, payload: '{"query":"{ __typename }"}' });
    expect(plain.statusCode).toBe(400);
    expect(plain.json().errors[0].message).toMatch(/Cross-Site Request Forgery/);
    const get = await hub.http.inject({ method: 'GET', url: '/graphql?query={__typename}', headers: { origin: FRONTEND } });
    expect(get.statusCode).toBe(400);
    expect(get.body).not.toContain('"__typename":"Query"');
  });
});

describe('a page on any other origin', () => {
  it.each(['/graphql', '/oauth/token', '/oauth/revoke'])('gets no CORS answer to its preflight to %s', async (url) => {
    const response = await preflight(hub, url, STRANGER);
    expect(response.statusCode).not.toBe(204);
    expect(corsHeaders(response.headers)).toEqual({});
  });

  it('gets no CORS headers on an actual request, so its script cannot read the answer', async () => {
    const user = await signUpUser(hub);
    const response = await graphql(hub, '{ me { id } }', { token: user.accessToken, headers: { origin: STRANGER } });
    expect(corsHeaders(response.headers)).toEqual({});
    // The origin is matched whole, not as a prefix or a suffix.
    for (const origin of [`${FRONTEND}.evil.example`, 'https://evilapp.example.com', 'http://app.example.com']) {
      expect(corsHeaders((await graphql(hub, '{ __typename }', { headers: { origin } })).headers)).toEqual({});
    }
  });

  it.each(['/jwks.json', '/receipts/jwks.json', '/.well-known/oauth-authorization-server', '/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/graphql'])(
    'reads the public document %s, as from every identity provider',
    async (url) => {
      const response = await hub.http.inject({ method: 'GET', url, headers: { origin: STRANGER } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['access-control-allow-origin']).toBe('*');
      expect(response.headers['access-control-allow-credentials']).toBeUndefined();
      // A query string, as a client that busts its cache adds, changes nothing.
      expect((await hub.http.inject({ method: 'GET', url: `${url}?v=2`, headers: { origin: STRANGER } })).headers['access-control-allow-origin']).toBe('*');
    },
  );
});

describe('without HUB_CORS_ORIGINS', () => {
  it('answers no origin, as before CORS existed', async () => {
    for (const url of ['/graphql', '/oauth/token']) {
      const response = await preflight(closedHub, url, FRONTEND);
      expect(response.statusCode).not.toBe(204);
      expect(corsHeaders(response.headers)).toEqual({});
    }
    const response = await graphql(closedHub, '{ __typename }', { headers: { origin: FRONTEND } });
    expect(response.data).toEqual({ __typename: 'Query' });
    expect(corsHeaders(response.headers)).toEqual({});
  });

  it('still serves the public documents to every origin', async () => {
    const response = await closedHub.http.inject({ method: 'GET', url: '/jwks.json', headers: { origin: STRANGER } });
    expect(response.headers['access-control-allow-origin']).toBe('*');
  });
});
