import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const metadata = () => `resource_metadata="${hub.config.issuer}/.well-known/oauth-protected-resource/graphql"`;

describe('the Bearer challenge (RFC 6750 §3)', () => {
  it('answers a request without a token that needed one, naming the resource metadata (RFC 9728)', async () => {
    const response = await graphql(hub, '{ users(first: 1) { edges { cursor } } }');
    expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(response.headers['www-authenticate']).toBe(`Bearer realm="hub", resource_metadata="${hub.config.issuer}/.well-known/oauth-protected-resource/graphql"`);
    const metadata = await hub.http.inject({ method: 'GET', url: '/.well-known/oauth-protected-resource/graphql' });
    expect(metadata.statusCode).toBe(200);
  });

  it('is not sent when nothing was refused, nor to a request that carries a token', async () => {
    expect((await graphql(hub, '{ __typename }')).headers['www-authenticate']).toBeUndefined();
    const user = await signUpUser(hub);
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).headers['www-authenticate']).toBeUndefined();
  });

  it('names the error of a refused token, and the resource metadata where a client learns how to get a new one', async () => {
    const response = await graphql(hub, '{ me { id } }', { token: 'not-a-jwt' });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="hub", error="invalid_token", error_description="[^"]+", ${metadata().replace(/[.?/]/g, '\\$&')}$`));
  });

  it('answers another scheme than Bearer with 401 and no error code (RFC 6750 §3.1)', async () => {
    const response = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { authorization: 'Basic dXNlcjpwYXNz', 'content-type': 'application/json' }, payload: { query: '{ me { id } }' } });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe(`Bearer realm="hub", ${metadata()}`);
    expect(response.json().errors[0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });

  it('is the same on the exports: a request without a token is told where to get one', async () => {
    const user = await signUpUser(hub);
    for (const url of [`/users/${user.id}/export`, '/audiences/aud_01JD3V4X5Y6Z7A8B9C0D1E2F3G/export']) {
      const anonymous = await hub.http.inject({ method: 'GET', url });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe(`Bearer realm="hub", ${metadata()}`);
      const basic = await hub.http.inject({ method: 'GET', url, headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      expect([basic.statusCode, basic.headers['www-authenticate'], basic.json().error]).toEqual([401, `Bearer realm="hub", ${metadata()}`, 'unauthorized']);
    }
  });

  it('refuses a token on the exports with invalid_token, never kept by a cache', async () => {
    const user = await signUpUser(hub);
    for (const url of [`/users/${user.id}/export`, '/audiences/aud_01JD3V4X5Y6Z7A8B9C0D1E2F3G/export']) {
      const refused = await hub.http.inject({ method: 'GET', url, headers: { authorization: 'Bearer not-a-jwt' } });
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['www-authenticate']).toMatch(/^Bearer realm="hub", error="invalid_token", error_description="[^"]+", resource_metadata=/);
      expect(refused.headers['cache-control']).toBe('no-store');
      expect(refused.json()).toEqual({ error: 'invalid_token', error_description: expect.any(String) });
    }
  });
});

describe('the Authorization header (RFC 6750 §2.1)', () => {
  const me = (authorization: string) =>
    hub.http.inject({ method: 'POST', url: '/graphql', headers: { authorization, 'content-type': 'application/json' }, payload: { query: '{ me { id } }' } });

  it('names the scheme in any case, and may space it from the token more than once', async () => {
    const user = await signUpUser(hub);
    for (const authorization of [`bearer ${user.accessToken}`, `BEARER ${user.accessToken}`, `Bearer   ${user.accessToken}`]) {
      expect((await me(authorization)).json().data, authorization.slice(0, 9)).toEqual({ me: { id: user.id } });
    }
  });

  it('is refused as a malformed bearer token when anything follows the token, or no token follows the scheme', async () => {
    const user = await signUpUser(hub);
    for (const authorization of [`Bearer ${user.accessToken} ${user.accessToken}`, `Bearer ${user.accessToken},x`, `Bearer ${user.accessToken} realm="hub"`, 'Bearer', 'Bearer ']) {
      const refused = await me(authorization);
      expect(refused.statusCode, authorization).toBe(401);
      expect(refused.headers['www-authenticate'], authorization).toBe(`Bearer realm="hub", error="invalid_token", error_description="malformed bearer token", ${metadata()}`);
      expect(refused.json().data).toBeUndefined();
    }
  });
});
