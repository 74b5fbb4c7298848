import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, postForm, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const refresh = (refreshToken: string, extra: Record<string, string> = {}) =>
  postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: refreshToken, ...extra });

describe('grant_type=refresh_token', () => {
  it('rotates: each use returns a new pair, and the new access token works', async () => {
    const user = await signUpUser(hub);
    const first = await refresh(user.refreshToken);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.body).toMatchObject({ token_type: 'Bearer', expires_in: 600, access_token: expect.any(String), refresh_token: expect.any(String) });
    expect(first.body.refresh_token).not.toBe(user.refreshToken);
    const me = await graphql(hub, '{ me { id } }', { token: first.body.access_token });
    expect(me.data).toEqual({ me: { id: user.id } });
    expect((await refresh(first.body.refresh_token)).status).toBe(200);
  });

  it('treats reuse of a rotated token as theft: the whole family is revoked', async () => {
    const user = await signUpUser(hub);
    const next = await refresh(user.refreshToken);
    const reuse = await refresh(user.refreshToken);
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // The token the thief or the user holds now is dead too, and so is every access token of the family.
    expect((await refresh(next.body.refresh_token)).body.error).toBe('invalid_grant');
    for (const token of [user.accessToken, next.body.access_token]) expect((await graphql(hub, '{ me { id } }', { token })).status).toBe(401);
  });

  it('may narrow the scope, never widen it', async () => {
    const user = await signUpUser(hub);
    const narrowed = await refresh(user.refreshToken, { scope: 'profile:read' });
    expect(narrowed.body.scope).toBe('profile:read');
    const email = await graphql(hub, '{ me { id country email } }', { token: narrowed.body.access_token });
    expect(email.errors?.map((e) => [e.path?.at(-1), e.extensions?.reason])).toEqual([['email', 'MISSING_SCOPE']]);
    const widened = await refresh(narrowed.body.refresh_token, { scope: 'profile:read contact:read' });
    expect(widened).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it.each([
    [{ refresh_token: 'made-up' }, 400, 'invalid_grant'],
    [{ refresh_token: '' }, 400, 'invalid_request'],
    [{ client_id: 'someone-else' }, 401, 'invalid_client'],
    [{ grant_type: 'password' }, 400, 'unsupported_grant_type'],
    [{ grant_type: '' }, 400, 'invalid_request'],
  ])('refuses %o with the RFC 6749 error', async (override, status, error) => {
    const user = await signUpUser(hub);
    const response = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: user.refreshToken, ...override });
    expect(response.status).toBe(status);
    expect(response.body).toEqual({ error, error_description: expect.any(String) });
    if (status === 401) expect(response.headers['www-authenticate']).toBeDefined();
  });

  it('refuses a repeated parameter', async () => {
    const response = await hub.http.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=refresh_token&grant_type=password&client_id=hub-frontend&refresh_token=x',
    });
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toBe('invalid_request');
  });
});
