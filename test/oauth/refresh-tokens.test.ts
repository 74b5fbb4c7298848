import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { USER_SESSION_MAX_AGE_SECONDS } from '../../src/oauth/grants/refresh-token.grant.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signUpUser, startTestHub } from '../helpers/hub.js';
import { claimsOf } from '../helpers/oauth.js';

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

  it('may narrow the access token’s scope, never widen it; the new refresh token keeps the scope of the one used (RFC 6749 §6)', async () => {
    const user = await signUpUser(hub);
    const narrowed = await refresh(user.refreshToken, { scope: 'profile:read' });
    expect(narrowed.body.scope).toBe('profile:read');
    const email = await graphql(hub, '{ me { id country email } }', { token: narrowed.body.access_token });
    expect(email.errors?.map((e) => [e.path?.at(-1), e.extensions?.reason])).toEqual([['email', 'MISSING_SCOPE']]);
    const restored = await refresh(narrowed.body.refresh_token);
    expect(restored.body.scope).toBe(claimsOf(user.accessToken).scope);
    expect((await graphql(hub, '{ me { email } }', { token: restored.body.access_token })).errors).toBeUndefined();
    const widened = await refresh(restored.body.refresh_token, { scope: 'profile:read users:admin' });
    expect(widened).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('refuses a blank scope with invalid_scope rather than issue a token of no scope, leaving the refresh token unspent', async () => {
    const user = await signUpUser(hub);
    expect(await refresh(user.refreshToken, { scope: ' ' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect((await refresh(user.refreshToken)).status).toBe(200);
  });

  it('refuses an audience or resource other than the hub’s API with invalid_target (RFC 8707), leaving the refresh token unspent', async () => {
    const user = await signUpUser(hub);
    for (const name of ['audience', 'resource']) {
      expect(await refresh(user.refreshToken, { [name]: 'https://elsewhere.example/api' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    }
    expect((await refresh(user.refreshToken, { audience: hub.config.audience })).status).toBe(200);
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

describe('a user session kept alive by refreshing', () => {
  const DAY = 86_400;
  const clock = fixedClock('2031-03-01T09:00:00Z');
  let sessionHub: Hub;
  beforeAll(async () => {
    sessionHub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  });
  afterAll(() => sessionHub.close());

  const refreshAt = (refreshToken: string) => postForm(sessionHub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: refreshToken });
  const liveTokenEnd = async (userId: string) =>
    (await sessionHub.services.db.selectFrom('refresh_tokens').select('expires_at').where('user_id', '=', userId).where('rotated_at', 'is', null).executeTakeFirstOrThrow()).expires_at;

  it('ends 30 days after the sign-in, however often it is refreshed: each new refresh token ends then, and so does the session', async () => {
    expect(USER_SESSION_MAX_AGE_SECONDS).toBe(30 * DAY);
    const signedUpAt = clock.now();
    const user = await signUpUser(sessionHub);
    const sessionEnd = new Date(signedUpAt.getTime() + USER_SESSION_MAX_AGE_SECONDS * 1_000);
    let refreshToken = user.refreshToken;
    for (const days of [10, 10, 9]) {
      clock.advance(days * DAY);
      const refreshed = await refreshAt(refreshToken);
      expect(refreshed.status).toBe(200);
      refreshToken = refreshed.body.refresh_token;
      expect(await liveTokenEnd(user.id)).toEqual(sessionEnd);
    }
    clock.advance(DAY);
    expect(await refreshAt(refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    const signedIn = await graphql<any>(sessionHub, 'mutation($input: SignInInput!) { signIn(input: $input) { refreshToken } }', {
      variables: { input: { email: user.email, password: 'correct horse battery staple 42' } },
    });
    expect((await refreshAt(signedIn.data.signIn.refreshToken)).status).toBe(200);
  });

  it('issues, a minute before the session ends, an access token that ends with it', async () => {
    const signedUpAt = clock.now();
    const user = await signUpUser(sessionHub);
    const sessionEnd = Math.floor(signedUpAt.getTime() / 1_000) + USER_SESSION_MAX_AGE_SECONDS;
    clock.advance(USER_SESSION_MAX_AGE_SECONDS - 60);
    const refreshed = await refreshAt(user.refreshToken);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.expires_in).toBe(60);
    expect(claimsOf(refreshed.body.access_token).exp).toBe(sessionEnd);
    clock.advance(61);
    expect((await graphql<any>(sessionHub, '{ me { id } }', { token: refreshed.body.access_token })).status).toBe(401);
  });

  it('refuses, with invalid_grant, a refresh token that would outlive its session, once the sign-in is 30 days old', async () => {
    const user = await signUpUser(sessionHub);
    // As every refresh issued before sessions ended: a refresh token good for 30 days from its last use.
    await sessionHub.services.db.updateTable('refresh_tokens').set({ expires_at: new Date(clock.now().getTime() + 60 * DAY * 1_000) }).where('user_id', '=', user.id).execute();
    clock.advance(30 * DAY);
    expect(await refreshAt(user.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'refresh token is invalid' } });
  });
});

describe('a refresh that takes time, a minute before its session ends', () => {
  // A clock that moves on 2 s at every read while ticking: time spent in the refresh's statements.
  let current = Date.parse('2031-03-01T09:00:00Z');
  let ticking = false;
  const clock = { now: () => new Date(ticking ? (current += 2_000) : current) };
  let slowHub: Hub;
  beforeAll(async () => {
    slowHub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  });
  afterAll(() => slowHub.close());

  it('still issues no access token that outlives the session', async () => {
    const sessionEnd = Math.floor(current / 1_000) + USER_SESSION_MAX_AGE_SECONDS;
    const user = await signUpUser(slowHub);
    current = (sessionEnd - 60) * 1_000;
    ticking = true;
    const refreshed = await postForm(slowHub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: user.refreshToken });
    ticking = false;
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.body.access_token).exp).toBeLessThanOrEqual(sessionEnd);
  });
});
