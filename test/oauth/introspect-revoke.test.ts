import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { hashRefreshToken } from '../../src/oauth/refresh-tokens.js';
import { CLOCK_SKEW_MS, fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import {
  basic,
  claimsOf,
  clientCredentialsToken,
  exchange,
  giveConsent,
  operatorCredentials,
  operatorToken,
  registerAgent,
  type ClientCredentials,
  type RegisteredAgent,
} from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let assistant: RegisteredAgent;
let stranger: RegisteredAgent;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  assistant = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read', 'offline_access'] });
  stranger = await registerAgent(hub, admin, { name: 'Stranger', allowedScopes: ['orders:read'] });
});
afterAll(() => hub.close());

const introspect = (client: ClientCredentials | undefined, token: string, extra: Record<string, string> = {}) =>
  postForm(hub, '/oauth/introspect', { token, ...extra }, client ? basic(client) : {});
const revoke = (client: ClientCredentials | undefined, token: string, extra: Record<string, string> = {}) =>
  postForm(hub, '/oauth/revoke', { token, ...extra }, client ? basic(client) : {});

async function delegatedSession() {
  const user = await signUpUser(hub);
  const consentId = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
  const body = (await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' })).body;
  return { user, consentId, accessToken: body.access_token as string, refreshToken: body.refresh_token as string };
}

describe('/oauth/introspect (RFC 7662)', () => {
  it('requires client authentication and a token', async () => {
    const own = await clientCredentialsToken(hub, assistant);
    expect(await introspect(undefined, own)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await introspect(undefined, own, { client_id: 'hub-frontend' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await introspect({ ...assistant, clientSecret: 'wrong' }, own)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await introspect(assistant, '')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('describes the caller’s own client-credentials token', async () => {
    const own = await clientCredentialsToken(hub, assistant);
    const response = await introspect(assistant, own);
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const claims = claimsOf(own);
    expect(response.body).toEqual({
      active: true,
      scope: 'orders:read',
      client_id: assistant.id,
      sub: assistant.id,
      exp: claims.exp,
      iat: claims.iat,
      iss: hub.config.issuer,
      aud: hub.config.audience,
      token_type: 'Bearer',
      jti: claims.jti,
    });
  });

  it('includes act, consent_id and purpose for a delegated token, and describes its refresh token', async () => {
    const session = await delegatedSession();
    expect((await introspect(assistant, session.accessToken)).body).toMatchObject({
      active: true,
      sub: session.user.id,
      client_id: assistant.id,
      act: { sub: assistant.id },
      consent_id: session.consentId,
      purpose: 'support',
    });
    const refresh = await introspect(assistant, session.refreshToken, { token_type_hint: 'refresh_token' });
    expect(refresh.body).toMatchObject({ active: true, client_id: assistant.id, sub: session.user.id, token_type: 'refresh_token', act: { sub: assistant.id }, consent_id: session.consentId });
  });

  it('answers only { active: false } for what is not the caller’s business, unknown, or dead', async () => {
    const session = await delegatedSession();
    expect((await introspect(stranger, session.accessToken)).body).toEqual({ active: false });
    expect((await introspect(stranger, session.refreshToken)).body).toEqual({ active: false });
    expect((await introspect(stranger, session.user.accessToken)).body).toEqual({ active: false });
    expect((await introspect(assistant, 'not-a-token')).body).toEqual({ active: false });
    expect((await introspect(assistant, 'x'.repeat(5_000))).body).toEqual({ active: false });

    await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: session.user.accessToken, variables: { id: session.consentId } });
    expect((await introspect(assistant, session.accessToken)).body).toEqual({ active: false });
    expect((await introspect(assistant, session.refreshToken)).body).toEqual({ active: false });
  });

  it('answers inactive for a refresh token used already (its next use is a reuse) or expired, to its own holder', async () => {
    const used = await delegatedSession();
    const next = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: used.refreshToken }, basic(assistant));
    expect(next.status).toBe(200);
    const expired = await delegatedSession();
    await hub.database.db.updateTable('refresh_tokens').set({ expires_at: new Date(Date.now() - 1_000) }).where('token_hash', '=', hashRefreshToken(expired.refreshToken)).execute();
    for (const dead of [used.refreshToken, expired.refreshToken]) {
      expect((await introspect(assistant, dead, { token_type_hint: 'refresh_token' })).body).toEqual({ active: false });
    }
    expect((await introspect(assistant, next.body.refresh_token, { token_type_hint: 'refresh_token' })).body.active).toBe(true);
  });

  it('answers inactive for a suspended user’s refresh tokens, session and delegated, as the refresh grant refuses them, and active once reactivated', async () => {
    const session = await delegatedSession();
    const setStatus = (mutation: 'suspendUser' | 'reactivateUser') => graphql<any>(hub, `mutation($id: ID!) { ${mutation}(id: $id) { status } }`, { token: admin, variables: { id: session.user.id } });
    const active = async () => [
      (await introspect(assistant, session.refreshToken, { token_type_hint: 'refresh_token' })).body.active,
      (await introspect(operatorCredentials(hub), session.user.refreshToken, { token_type_hint: 'refresh_token' })).body.active,
    ];
    expect(await active()).toEqual([true, true]);

    expect((await setStatus('suspendUser')).data.suspendUser.status).toBe('SUSPENDED');
    expect(await active()).toEqual([false, false]);
    const refreshed = [
      await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: session.refreshToken }, basic(assistant)),
      await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: session.user.refreshToken }),
    ];
    expect(refreshed.map((response) => [response.status, response.body.error])).toEqual([[400, 'invalid_grant'], [400, 'invalid_grant']]);

    expect((await setStatus('reactivateUser')).data.reactivateUser.status).toBe('ACTIVE');
    expect(await active()).toEqual([true, true]);
  });

  it('lets an operator with agents:admin introspect any token', async () => {
    const session = await delegatedSession();
    expect((await introspect(operatorCredentials(hub), session.accessToken)).body).toMatchObject({ active: true, act: { sub: assistant.id } });
    expect((await introspect(operatorCredentials(hub), session.user.accessToken)).body).toMatchObject({ active: true, sub: session.user.id, client_id: 'hub-frontend' });
  });

  it('answers 503 temporarily_unavailable, not inactive, when it cannot read whether a token still stands, and 500 on any other failure', async () => {
    const user = await signUpUser(hub);
    const unreachable = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    // A resource server told `active: false` would end a session that stands; told 503, it retries.
    const inspect = vi.spyOn(hub.services.tokens, 'inspect').mockRejectedValueOnce(unreachable).mockRejectedValueOnce(new Error('relation "revoked_tokens" does not exist'));
    const down = await introspect(operatorCredentials(hub), user.accessToken);
    expect({ status: down.status, body: down.body }).toEqual({ status: 503, body: { error: 'temporarily_unavailable', error_description: expect.any(String) } });
    expect((await introspect(operatorCredentials(hub), user.accessToken)).body).toEqual({ error: 'server_error', error_description: 'Internal server error' });
    expect((await introspect(operatorCredentials(hub), user.accessToken)).body).toMatchObject({ active: true, sub: user.id });
    inspect.mockRestore();
  });

  it('records each active answer about a person’s token to another client in their trail as a read of their sessions, and its holder’s or an inactive one nowhere', async () => {
    const session = await delegatedSession();
    const operator = operatorCredentials(hub);
    const trail = async () => {
      await hub.services.audit.flush();
      return hub.database.db.selectFrom('audit_events').select(['action', 'actor_kind', 'actor_id', 'client_id', 'consent_id', 'fields_read', 'decision', 'detail'])
        .where('subject_user_id', '=', session.user.id).where('action', '=', 'profile.read').orderBy('occurred_at').orderBy('id').execute();
    };
    const before = await trail();

    // Nothing revealed, nothing recorded: another client's tokens, and an unknown one.
    expect((await introspect(stranger, session.accessToken)).body).toEqual({ active: false });
    expect((await introspect(stranger, session.refreshToken)).body).toEqual({ active: false });
    expect(await trail()).toEqual(before);

    expect((await introspect(operator, session.refreshToken, { token_type_hint: 'refresh_token' })).body.active).toBe(true);
    expect((await introspect(operator, session.user.accessToken)).body.active).toBe(true);
    // The holder learns nothing of its own token that it was not given with it.
    expect((await introspect(assistant, session.accessToken)).body.active).toBe(true);
    const read = (by: string, detail: Record<string, unknown>) => ({
      action: 'profile.read',
      actor_kind: 'client',
      actor_id: by,
      client_id: by,
      consent_id: null,
      fields_read: ['sessions'],
      decision: 'allow',
      detail: { endpoint: 'introspect', ...detail },
    });
    expect((await trail()).slice(before.length)).toEqual([
      read(operator.clientId, { heldBy: assistant.id, consentId: session.consentId }),
      read(operator.clientId, { heldBy: 'hub-frontend', jti: claimsOf(session.user.accessToken).jti }),
    ]);
    // The person sees who learnt what of their sessions.
    const log = await graphql<any>(hub, '{ me { accessLog(first: 3) { edges { node { action actor { kind id } fieldsRead } } } } }', { token: session.user.accessToken });
    expect(log.data.me.accessLog.edges.map((e: any) => e.node)).toContainEqual({ action: 'profile.read', actor: { kind: 'client', id: operator.clientId }, fieldsRead: ['sessions'] });
  });

  it('records no read of a person for an active answer about a client’s own token, which names no person', async () => {
    const own = await clientCredentialsToken(hub, assistant);
    expect((await introspect(operatorCredentials(hub), own)).body).toMatchObject({ active: true, sub: assistant.id });
    await hub.services.audit.flush();
    const reads = await hub.database.db.selectFrom('audit_events').select('id').where('action', '=', 'profile.read').where('subject_user_id', '=', assistant.id).execute();
    expect(reads).toEqual([]);
  });

  it('records no introspection when reads are not audited (HUB_AUDIT_READS=false), as no GraphQL read is', async () => {
    const unaudited = await startTestHub({ HUB_AUDIT_READS: 'false' });
    try {
      const user = await signUpUser(unaudited);
      const answer = await postForm(unaudited, '/oauth/introspect', { token: user.accessToken }, basic(operatorCredentials(unaudited)));
      expect(answer.body).toMatchObject({ active: true, sub: user.id });
      await unaudited.services.audit.flush();
      const reads = await unaudited.database.db.selectFrom('audit_events').select('id').where('subject_user_id', '=', user.id).where('action', '=', 'profile.read').execute();
      expect(reads).toEqual([]);
    } finally {
      await unaudited.close();
    }
  });
});

describe('/oauth/revoke (RFC 7009)', () => {
  it('requires client authentication and a token', async () => {
    expect(await revoke(undefined, 'anything')).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await revoke(assistant, '')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('takes no client_id but the public client’s without a secret: an agent named without its secret authenticates as nothing', async () => {
    const user = await signUpUser(hub);
    for (const clientId of [assistant.id, 'hub-frontend-x']) {
      expect(await revoke(undefined, user.refreshToken, { client_id: clientId })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect(await introspect(undefined, user.accessToken, { client_id: clientId })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    }
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).status).toBe(200);
  });

  it('answers 200 for a token it does not know', async () => {
    expect((await revoke(assistant, 'made-up')).status).toBe(200);
    expect((await revoke(assistant, 'a.b.c', { token_type_hint: 'access_token' })).status).toBe(200);
    expect((await revoke(assistant, 'made-up', { token_type_hint: 'something_else' })).status).toBe(200);
  });

  it('revokes the caller’s access token by jti: refused on the next request and inactive', async () => {
    const own = await clientCredentialsToken(hub, assistant);
    expect((await graphql(hub, '{ me { id } }', { token: own })).status).toBe(200);
    expect((await revoke(assistant, own)).status).toBe(200);
    const refused = await graphql(hub, '{ me { id } }', { token: own });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('token revoked');
    expect((await introspect(assistant, own)).body).toEqual({ active: false });
    expect((await revoke(assistant, own)).status).toBe(200);
  });

  it('records the revocation of a person’s access token in their trail', async () => {
    const user = await signUpUser(hub);
    expect((await revoke(undefined, user.accessToken, { client_id: 'hub-frontend' })).status).toBe(200);
    await hub.services.audit.flush();
    const events = await hub.database.db.selectFrom('audit_events').select(['decision', 'reason', 'detail']).where('action', '=', 'token.revoked').where('subject_user_id', '=', user.id).execute();
    expect(events).toEqual([{ decision: 'allow', reason: 'access token revoked', detail: { jti: claimsOf(user.accessToken).jti, heldBy: 'hub-frontend' } }]);
  });

  it('refuses another client’s token with unauthorized_client (RFC 7009 §2.1), revokes nothing and audits the attempt once', async () => {
    const session = await delegatedSession();
    const mine = await clientCredentialsToken(hub, assistant);
    const refused = { status: 400, body: { error: 'unauthorized_client', error_description: 'the token was not issued to this client' } };
    expect(await revoke(stranger, mine)).toMatchObject(refused);
    expect(await revoke(stranger, session.refreshToken, { token_type_hint: 'refresh_token' })).toMatchObject(refused);
    expect(await revoke(operatorCredentials(hub), session.accessToken)).toMatchObject(refused);
    expect((await revoke(stranger, mine)).headers['cache-control']).toBe('no-store');
    expect((await introspect(assistant, mine)).body.active).toBe(true);
    expect((await introspect(assistant, session.refreshToken)).body.active).toBe(true);
    expect((await graphql(hub, '{ me { id } }', { token: session.accessToken })).status).toBe(200);
    await hub.services.audit.flush();
    const denied = await hub.database.db.selectFrom('audit_events').select(['reason', 'client_id']).where('action', '=', 'token.revoked').where('decision', '=', 'deny').execute();
    expect(denied).toEqual(expect.arrayContaining([
      { reason: 'access token of another client', client_id: stranger.id },
      { reason: 'refresh token of another client', client_id: stranger.id },
    ]));
    const refusedAgain = await hub.database.db.selectFrom('audit_events').select('reason').where('action', '=', 'token.refused').where('client_id', '=', stranger.id).execute();
    expect(refusedAgain).toEqual([]);
  });

  it('answers 200 to another client for a token that is dead already (revoked, rotated, expired, its session ended) and changes nothing', async () => {
    const revokedAccess = await clientCredentialsToken(hub, assistant);
    expect((await revoke(assistant, revokedAccess)).status).toBe(200);
    const signedOut = await signUpUser(hub);
    expect((await revoke(undefined, signedOut.refreshToken, { client_id: 'hub-frontend' })).status).toBe(200);
    const rotated = await delegatedSession();
    const next = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: rotated.refreshToken }, basic(assistant));
    expect(next.status).toBe(200);
    const rotatedSession = await signUpUser(hub);
    expect((await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: rotatedSession.refreshToken })).status).toBe(200);
    const expired = await delegatedSession();
    await hub.database.db.updateTable('refresh_tokens').set({ expires_at: new Date(Date.now() - 1_000) }).where('token_hash', '=', hashRefreshToken(expired.refreshToken)).execute();
    // Handed to an agent, a user's token is refused as a bearer token but may still be exchanged:
    // live until its session ends.
    const handedUser = await signUpUser(hub);
    await giveConsent(hub, handedUser.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const handed = await signIn(hub, handedUser);
    expect((await exchange(hub, assistant, handed.accessToken, { scope: 'orders:read' })).status).toBe(200);
    expect(await revoke(stranger, handed.accessToken)).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect((await revoke(undefined, handed.refreshToken, { client_id: 'hub-frontend' })).status).toBe(200);
    await hub.services.audit.flush();
    const trail = () => hub.database.db.selectFrom('audit_events').select('id').where('action', 'in', ['token.revoked', 'token.refused']).orderBy('id').execute();
    const before = await trail();

    for (const dead of [revokedAccess, signedOut.accessToken, handed.accessToken, signedOut.refreshToken, rotated.refreshToken, rotatedSession.refreshToken, expired.refreshToken]) {
      expect(await revoke(stranger, dead)).toMatchObject({ status: 200, body: undefined });
    }
    await hub.services.audit.flush();
    expect(await trail()).toEqual(before);
    // The rotated token's family lives on: its current refresh token is still the holder's, and
    // still refused to anyone else.
    expect((await introspect(assistant, next.body.refresh_token)).body.active).toBe(true);
    expect(await revoke(stranger, next.body.refresh_token)).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
  });

  it('answers 200 to another client for a refresh token its grant no longer stands behind (a suspended user), and changes nothing', async () => {
    const session = await delegatedSession();
    const setStatus = (mutation: 'suspendUser' | 'reactivateUser') => graphql(hub, `mutation($id: ID!) { ${mutation}(id: $id) { status } }`, { token: admin, variables: { id: session.user.id } });
    await setStatus('suspendUser');
    expect(await revoke(stranger, session.refreshToken)).toMatchObject({ status: 200, body: undefined });
    await hub.services.audit.flush();
    const denied = await hub.database.db.selectFrom('audit_events').select('reason').where('action', '=', 'token.revoked').where('subject_user_id', '=', session.user.id).execute();
    expect(denied).toEqual([]);
    await setStatus('reactivateUser');
    expect((await introspect(assistant, session.refreshToken, { token_type_hint: 'refresh_token' })).body.active).toBe(true);
  });

  it('revokes a refresh token with its whole family', async () => {
    const session = await delegatedSession();
    const next = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: session.refreshToken }, basic(assistant));
    expect((await revoke(assistant, next.body.refresh_token, { token_type_hint: 'refresh_token' })).status).toBe(200);
    const refused = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: next.body.refresh_token }, basic(assistant));
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const events = await hub.database.db.selectFrom('audit_events').select(['decision', 'reason']).where('action', '=', 'token.revoked').where('subject_user_id', '=', session.user.id).execute();
    expect(events).toEqual([{ decision: 'allow', reason: 'refresh token revoked with its family' }]);
  });

  it('ends every access token issued with the revoked refresh token’s family (RFC 7009 §2.1)', async () => {
    const session = await delegatedSession();
    const next = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: session.refreshToken }, basic(assistant));
    const another = await delegatedSession();
    const reads = async (token: string) => (await graphql(hub, '{ me { id } }', { token })).status;
    expect([await reads(session.accessToken), await reads(next.body.access_token)]).toEqual([200, 200]);

    expect((await revoke(assistant, next.body.refresh_token)).status).toBe(200);
    expect([await reads(session.accessToken), await reads(next.body.access_token)]).toEqual([401, 401]);
    expect(await introspect(assistant, session.accessToken)).toMatchObject({ status: 200, body: { active: false } });
    expect(await reads(another.accessToken)).toBe(200);
  });

  it('lets the hub’s public client sign a user out: revoking the refresh token ends the session’s access tokens', async () => {
    const user = await signUpUser(hub);
    const other = await signUpUser(hub);
    expect((await revoke(undefined, user.refreshToken, { client_id: 'hub-frontend' })).status).toBe(200);
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).status).toBe(401);
    expect((await graphql(hub, '{ me { id } }', { token: other.accessToken })).status).toBe(200);
    const exchanged = await exchange(hub, assistant, user.accessToken, { scope: 'orders:read' });
    expect(exchanged).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'subject_token is invalid' } });
  });

  it('lets the hub’s public client revoke a user’s own tokens: sign-out', async () => {
    const user = await signUpUser(hub);
    expect((await revoke(undefined, user.accessToken, { client_id: 'hub-frontend' })).status).toBe(200);
    expect((await revoke(undefined, user.refreshToken, { client_id: 'hub-frontend' })).status).toBe(200);
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).status).toBe(401);
    const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: user.refreshToken });
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});

// Requests that each read the token as live before any revoked it: a server's concurrency.
describe.skipIf(testServerUrl() === undefined)('/oauth/revoke of one refresh token by concurrent requests', () => {
  it('revokes its family once, audited (and announced, in the same transaction) once', async () => {
    const user = await signUpUser(hub);
    const answers = await Promise.all([1, 2, 3].map(() => postForm(hub, '/oauth/revoke', { token: user.refreshToken, client_id: 'hub-frontend' })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    await hub.services.audit.flush();
    const revoked = await hub.services.db.selectFrom('audit_events').select('reason').where('action', '=', 'token.revoked').where('subject_user_id', '=', user.id).execute();
    expect(revoked).toEqual([{ reason: 'refresh token revoked with its family' }]);
  });
});

describe('revocations of access tokens, on an instance whose housekeeping has not come round', () => {
  it('are forgotten by the next revocation once the token expired on every instance’s clock', async () => {
    const clock = fixedClock('2031-03-01T09:00:00.000Z');
    const busy = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock, housekeepingEveryMs: 3_600_000 });
    try {
      const first = await signUpUser(busy);
      expect((await postForm(busy, '/oauth/revoke', { token: first.accessToken, client_id: 'hub-frontend' })).status).toBe(200);
      const { jti, exp } = claimsOf(first.accessToken);
      const remembered = async () => (await busy.services.db.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti).execute()).length;
      expect(await remembered()).toBe(1);

      clock.set(new Date(exp * 1_000 + CLOCK_SKEW_MS + 1_000));
      const second = await signUpUser(busy);
      expect((await postForm(busy, '/oauth/revoke', { token: second.accessToken, client_id: 'hub-frontend' })).status).toBe(200);
      expect(await remembered()).toBe(0);
    } finally {
      await busy.close();
    }
  });
});

describe('revocations of access tokens, on an instance nobody revokes an access token at any more', () => {
  it('are forgotten all the same once the token expired on every instance’s clock, by the hub’s housekeeping', async () => {
    const clock = fixedClock('2031-03-01T09:00:00.000Z');
    const idle = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock, housekeepingEveryMs: 50 });
    try {
      const user = await signUpUser(idle);
      expect((await postForm(idle, '/oauth/revoke', { token: user.accessToken, client_id: 'hub-frontend' })).status).toBe(200);
      const { jti, exp } = claimsOf(user.accessToken);
      const remembered = async () => (await idle.services.db.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti).execute()).length;
      expect(await remembered()).toBe(1);

      // Expired on this instance's clock, not yet on one behind it, which must still refuse it.
      clock.set(new Date(exp * 1_000 + CLOCK_SKEW_MS / 2));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await remembered()).toBe(1);

      clock.set(new Date(exp * 1_000 + CLOCK_SKEW_MS + 1_000));
      await vi.waitFor(async () => expect(await remembered()).toBe(0), { timeout: 5_000, interval: 50 });
    } finally {
      await idle.close();
    }
  });
});
