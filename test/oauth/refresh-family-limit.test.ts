import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { auditInTransaction } from '../../src/audit/audit.service.js';
import { MAX_LIVE_FAMILIES, useRefreshToken } from '../../src/oauth/refresh-tokens.js';
import { testServerUrl } from '../helpers/database.js';
import { graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { basic, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

let hub: Hub;
let assistant: RegisteredAgent;
beforeAll(async () => {
  hub = await startTestHub();
  assistant = await registerAgent(hub, await operatorToken(hub), { allowedScopes: ['orders:read', 'offline_access'] });
});
afterAll(() => hub.close());

const HOUR_MS = 3_600_000;

/** The user's families with the client as if last refreshed `hoursAgo` hours ago. */
async function lastRefreshed(userId: string, clientId: string, hoursAgo: number) {
  await sql`update refresh_tokens set created_at = ${new Date(Date.now() - hoursAgo * HOUR_MS)}
    where user_id = ${userId} and client_id = ${clientId} and rotated_at is null`.execute(hub.services.db);
}

/** `count` more live families of the user with the client, last refreshed about an hour ago. */
async function addLiveFamilies(userId: string, clientId: string, count: number) {
  await sql`insert into refresh_tokens (id, family_id, token_hash, user_id, client_id, scope, auth_time, created_at, expires_at)
    select 'rt_other' || g || ${userId}, 'rt_other' || g || ${userId}, sha256(convert_to(${userId} || ${clientId} || g, 'UTF8')), ${userId}, ${clientId}, 'orders:read',
      now(), now() - interval '1 hour' + g * interval '1 second', now() + interval '1 day'
    from generate_series(1, ${count}) g`.execute(hub.services.db);
}

const liveFamilies = async (userId: string, clientId: string) =>
  Number(
    (
      await sql<{ n: number }>`select count(*)::int as n from refresh_tokens
        where user_id = ${userId} and client_id = ${clientId} and rotated_at is null and revoked_at is null`.execute(hub.services.db)
    ).rows[0]!.n,
  );

const refreshSession = (token: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: token });

describe(`a user's live refresh-token families with one client, past ${MAX_LIVE_FAMILIES}`, () => {
  it('end with a new sign-in, least recently refreshed first, in the user’s trail', async () => {
    const user = await signUpUser(hub);
    await lastRefreshed(user.id, 'hub-frontend', 2);
    await addLiveFamilies(user.id, 'hub-frontend', MAX_LIVE_FAMILIES - 1);
    expect(await liveFamilies(user.id, 'hub-frontend')).toBe(MAX_LIVE_FAMILIES);
    const latest = await signIn(hub, user);
    expect(await liveFamilies(user.id, 'hub-frontend')).toBe(MAX_LIVE_FAMILIES);
    expect(await refreshSession(user.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await refreshSession(latest.refreshToken)).status).toBe(200);
    const log = await graphql<any>(hub, '{ me { accessLog(first: 20) { edges { node { action decision reason requestId } } } } }', { token: latest.accessToken });
    const events = log.data.me.accessLog.edges.map((edge: any) => edge.node);
    // Named with the sign-in that ended it.
    const signedIn = events.find((event: any) => event.action === 'user.signed_in');
    expect(signedIn.requestId).toEqual(expect.any(String));
    expect(events).toContainEqual({ action: 'token.revoked', decision: 'ALLOW', reason: expect.stringContaining(`${MAX_LIVE_FAMILIES} live`), requestId: signedIn.requestId });
  });

  it('end ten at most with one new family, so that more from before the limit end over the next ones', async () => {
    const user = await signUpUser(hub);
    await addLiveFamilies(user.id, 'hub-frontend', MAX_LIVE_FAMILIES + 19);
    await signIn(hub, user);
    expect(await liveFamilies(user.id, 'hub-frontend')).toBe(MAX_LIVE_FAMILIES + 11);
  });

  it('count no family a revocation has ended, nor end it again', async () => {
    const user = await signUpUser(hub);
    await lastRefreshed(user.id, 'hub-frontend', 2);
    // What a revocation racing a refresh leaves: a revoked token in the family, its latest one not.
    await sql`insert into refresh_tokens (id, family_id, token_hash, user_id, client_id, scope, auth_time, created_at, expires_at, rotated_at, revoked_at)
      select 'rt_revoked' || user_id, family_id, sha256(convert_to('revoked' || user_id, 'UTF8')), user_id, client_id, scope, auth_time, created_at, expires_at, created_at, now()
      from refresh_tokens where user_id = ${user.id}`.execute(hub.services.db);
    await addLiveFamilies(user.id, 'hub-frontend', MAX_LIVE_FAMILIES - 1);
    const latest = await signIn(hub, user);
    expect(await liveFamilies(user.id, 'hub-frontend')).toBe(MAX_LIVE_FAMILIES + 1);
    const log = await graphql<any>(hub, '{ me { accessLog(first: 20) { edges { node { action } } } } }', { token: latest.accessToken });
    expect(log.data.me.accessLog.edges.map((edge: any) => edge.node.action)).not.toContain('token.revoked');
  });

  it('keep the one refreshed last, however early it began', async () => {
    const user = await signUpUser(hub);
    await lastRefreshed(user.id, 'hub-frontend', 2);
    await addLiveFamilies(user.id, 'hub-frontend', MAX_LIVE_FAMILIES - 1);
    const refreshed = await refreshSession(user.refreshToken);
    expect(refreshed.status).toBe(200);
    await signIn(hub, user);
    expect(await liveFamilies(user.id, 'hub-frontend')).toBe(MAX_LIVE_FAMILIES);
    expect((await refreshSession(refreshed.body.refresh_token)).status).toBe(200);
  });

  it('end with a new exchange for offline access, for the agent and that user only', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const first = await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' });
    expect(first.status).toBe(200);
    await lastRefreshed(user.id, assistant.id, 2);
    await addLiveFamilies(user.id, assistant.id, MAX_LIVE_FAMILIES - 1);
    const sessions = await liveFamilies(user.id, 'hub-frontend');
    const again = await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' });
    expect(again.status).toBe(200);
    expect(await liveFamilies(user.id, assistant.id)).toBe(MAX_LIVE_FAMILIES);
    const refresh = (token: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: token }, basic(assistant));
    expect(await refresh(first.body.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await refresh(again.body.refresh_token)).status).toBe(200);
    // The user's own sessions are another client's: the sign-in above added one, and ended none.
    expect(await liveFamilies(user.id, 'hub-frontend')).toBe(sessions + 1);
  });
});

// A second connection must wait on the first's lock: PGlite runs one transaction at a time.
describe.skipIf(testServerUrl() === undefined)('a sign-in that ends a family a refresh is using', () => {
  const { waiters } = lockHolder(() => hub.services.db);

  it('waits for the refresh to commit, and both succeed', async () => {
    const user = await signUpUser(hub);
    await lastRefreshed(user.id, 'hub-frontend', 2);
    await addLiveFamilies(user.id, 'hub-frontend', MAX_LIVE_FAMILIES - 1);
    let signingIn: Promise<unknown> | undefined;
    await hub.services.db.transaction().execute(async (tx) => {
      const now = hub.services.clock.now();
      // The refresh grant's steps: the least recent family's token locked and used, ...
      await useRefreshToken(tx, hub.services.keys.refreshTokenKey, user.refreshToken, 'hub-frontend', now);
      // ... a sign-in that ends that family meanwhile, ...
      signingIn = signIn(hub, user);
      await waiters(1);
      // ... then the refresh's event in the user's trail, where the sign-in writes its own.
      await auditInTransaction(tx, { action: 'token.refreshed', actor: { kind: 'user', id: user.id }, subjectUserId: user.id, clientId: 'hub-frontend', decision: 'ALLOW' }, now);
    });
    await expect(signingIn).resolves.toMatchObject({ accessToken: expect.any(String) });
    expect(await liveFamilies(user.id, 'hub-frontend')).toBe(MAX_LIVE_FAMILIES);
  });
});

// Concurrent exchanges on one connection each would run one after the other on PGlite.
describe.skipIf(testServerUrl() === undefined)('exchanges for offline access started at once', () => {
  it('leave the agent no more live families than the limit', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    await addLiveFamilies(user.id, assistant.id, MAX_LIVE_FAMILIES);
    const subjects = await Promise.all([1, 2, 3, 4].map(async () => (await signIn(hub, user)).accessToken));
    const exchanged = await Promise.all(subjects.map((subject) => exchange(hub, assistant, subject, { scope: 'orders:read offline_access' })));
    expect(exchanged.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    expect(await liveFamilies(user.id, assistant.id)).toBe(MAX_LIVE_FAMILIES);
  });
});
