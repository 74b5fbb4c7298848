import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { deleteExpiredRevocations } from '../../src/oauth/token-state.queries.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { graphql, postForm, signUpUser, TEST_ENV } from '../helpers/hub.js';
import { basic, claimsOf, exchange, giveConsent, operatorToken, registerAgent, type ClientCredentials, type RegisteredAgent } from '../helpers/oauth.js';

// A sub-agent's token is bound to the grant of the token it was exchanged from: revoking the
// parent's refresh family or access token ends the sub-agent's tokens, at any depth.

const DAY = 24 * 3_600;
const SCOPE = 'orders:read offline_access';
const clock = fixedClock(new Date());
let hub: Hub;
let parent: RegisteredAgent;
let child: RegisteredAgent;
let grandchild: RegisteredAgent;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  const admin = await operatorToken(hub);
  parent = await registerAgent(hub, admin, { name: 'Parent', allowedScopes: ['orders:read', 'offline_access'] });
  child = await registerAgent(hub, admin, { name: 'Child', allowedScopes: ['orders:read', 'offline_access'], parentAgentId: parent.id });
  grandchild = await registerAgent(hub, admin, { name: 'Grandchild', allowedScopes: ['orders:read', 'offline_access'], parentAgentId: child.id });
});
afterAll(() => hub.close());

const refresh = (client: ClientCredentials, refreshToken: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, basic(client));
const revoke = (client: ClientCredentials, token: string) => postForm(hub, '/oauth/revoke', { token }, basic(client));
const me = async (token: string) => (await graphql(hub, '{ me { id } }', { token })).status;

interface Pair {
  readonly access_token: string;
  readonly refresh_token?: string;
}

async function exchanged(agent: ClientCredentials, subjectToken: string, scope = SCOPE): Promise<Pair> {
  const response = await exchange(hub, agent, subjectToken, { scope });
  expect(response.status).toBe(200);
  return response.body;
}

/** A user who consented to the parent, the parent's delegated pair, and the child's exchanged from it. */
async function delegation() {
  const user = await signUpUser(hub);
  await giveConsent(hub, user.accessToken, { agentId: parent.id, scopes: ['orders:read'] });
  const parentPair = await exchanged(parent, user.accessToken);
  const childPair = await exchanged(child, parentPair.access_token);
  return { user, parentPair, childPair };
}

describe("a sub-agent's delegation", () => {
  it('names the grants it was exchanged from, and keeps them across refreshes', async () => {
    const { user, parentPair, childPair } = await delegation();
    const userClaims = claimsOf(user.accessToken);
    const parentClaims = claimsOf(parentPair.access_token);
    expect(parentClaims.delegated_from).toEqual([{ jti: userClaims.jti, sid: userClaims.sid }]);
    const lineage = [{ jti: parentClaims.jti, sid: parentClaims.sid }, { jti: userClaims.jti, sid: userClaims.sid }];
    expect(claimsOf(childPair.access_token).delegated_from).toEqual(lineage);
    const next = await refresh(child, childPair.refresh_token!);
    expect(next.status).toBe(200);
    expect(claimsOf(next.body.access_token).delegated_from).toEqual(lineage);
    expect(await me(next.body.access_token)).toBe(200);
  });

  it("ends when the parent's refresh token is revoked: access token at once, refresh token for good", async () => {
    const { parentPair, childPair } = await delegation();
    expect((await revoke(parent, parentPair.refresh_token!)).status).toBe(200);
    expect(await me(parentPair.access_token)).toBe(401);
    expect(await refresh(parent, parentPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await me(childPair.access_token)).toBe(401);
    clock.advance(7 * DAY);
    expect(await refresh(child, childPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it("ends when the parent's access token it was exchanged from is revoked by jti, even after that token expired", async () => {
    const { parentPair, childPair } = await delegation();
    expect((await revoke(parent, parentPair.access_token)).status).toBe(200);
    expect(await me(parentPair.access_token)).toBe(401);
    expect(await me(childPair.access_token)).toBe(401);
    clock.advance(DAY);
    await deleteExpiredRevocations(hub.database.db, clock.now());
    expect(await refresh(child, childPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // The parent's own family was not revoked: only the token the child came from.
    expect((await refresh(parent, parentPair.refresh_token!)).status).toBe(200);
  });

  it("ends for good when its family escaped the revocation of the parent's access token, before the revocation is forgotten", async () => {
    const { parentPair, childPair } = await delegation();
    expect((await revoke(parent, parentPair.access_token)).status).toBe(200);
    // As an exchange that read the parent's token just before the revocation stores its family after it.
    const { jti } = claimsOf(parentPair.access_token);
    await sql`update refresh_tokens set revoked_at = null where delegated_from @> jsonb_build_array(jsonb_build_object('jti', ${jti}::text))`.execute(hub.database.db);
    clock.advance(DAY);
    expect(await deleteExpiredRevocations(hub.database.db, clock.now())).toBeGreaterThanOrEqual(1);
    // The revocation of the parent's token is forgotten, and the family it reached stays ended.
    expect(await refresh(child, childPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await refresh(parent, parentPair.refresh_token!)).status).toBe(200);
  });

  it("ends when a reuse of the parent's refresh token revokes its family", async () => {
    const { parentPair, childPair } = await delegation();
    expect((await refresh(parent, parentPair.refresh_token!)).status).toBe(200);
    expect(await refresh(parent, parentPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await me(childPair.access_token)).toBe(401);
    expect(await refresh(child, childPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('ends at every depth: revoking the parent reaches the grandchild', async () => {
    const { parentPair, childPair } = await delegation();
    const grandchildPair = await exchanged(grandchild, childPair.access_token);
    const childClaims = claimsOf(childPair.access_token);
    expect(claimsOf(grandchildPair.access_token).delegated_from).toEqual([{ jti: childClaims.jti, sid: childClaims.sid }, ...childClaims.delegated_from]);
    expect(await me(grandchildPair.access_token)).toBe(200);
    expect((await revoke(parent, parentPair.refresh_token!)).status).toBe(200);
    expect(await me(grandchildPair.access_token)).toBe(401);
    expect(await refresh(grandchild, grandchildPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it("ends, on the first hop, with the user's session it was exchanged from; its refresh family stands on the consent", async () => {
    const { user, parentPair, childPair } = await delegation();
    const online = await exchanged(parent, user.accessToken, 'orders:read');
    // Signing out: the frontend revokes the session's refresh token.
    expect((await postForm(hub, '/oauth/revoke', { token: user.refreshToken, client_id: 'hub-frontend' })).status).toBe(200);
    expect(await me(user.accessToken)).toBe(401);
    for (const token of [online.access_token, parentPair.access_token, childPair.access_token]) expect(await me(token)).toBe(401);
    const refreshed = await refresh(parent, parentPair.refresh_token!);
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.body.access_token).delegated_from).toBeUndefined();
    expect(await me(refreshed.body.access_token)).toBe(200);
  });

  it("does not reach upwards: revoking the child's family leaves the parent's", async () => {
    const { parentPair, childPair } = await delegation();
    expect((await revoke(child, childPair.refresh_token!)).status).toBe(200);
    expect(await me(childPair.access_token)).toBe(401);
    expect(await me(parentPair.access_token)).toBe(200);
    expect((await refresh(parent, parentPair.refresh_token!)).status).toBe(200);
  });

  it('gets no refresh token from a parent token issued without one', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: parent.id, scopes: ['orders:read'] });
    const parentToken = (await exchanged(parent, user.accessToken, 'orders:read')).access_token;
    expect(await exchange(hub, child, parentToken, { scope: SCOPE })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    const online = await exchanged(child, parentToken, 'orders:read');
    expect(online.refresh_token).toBeUndefined();
    expect((await revoke(parent, parentToken)).status).toBe(200);
    expect(await me(online.access_token)).toBe(401);
  });

  it("cannot outlive the parent's refresh family", async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: parent.id, scopes: ['orders:read'] });
    const parentPair = await exchanged(parent, user.accessToken);
    const parentEnd = await familyEnd(claimsOf(parentPair.access_token).sid);
    clock.advance(300);
    const childPair = await exchanged(child, parentPair.access_token);
    expect(await familyEnd(claimsOf(childPair.access_token).sid)).toEqual(parentEnd);
    clock.advance(30 * DAY - 300);
    expect(await refresh(child, childPair.refresh_token!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it("issues a refreshed access token that ends with the parent's family, not a token lifetime past it", async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: parent.id, scopes: ['orders:read'] });
    const parentPair = await exchanged(parent, user.accessToken);
    const childPair = await exchanged(child, parentPair.access_token);
    const parentEnd = await familyEnd(claimsOf(parentPair.access_token).sid);
    clock.set(new Date(parentEnd.getTime() - 60_000));
    const refreshed = await refresh(child, childPair.refresh_token!);
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.body.access_token).exp).toBe(Math.floor(parentEnd.getTime() / 1_000));
    expect(refreshed.body.expires_in).toBe(60);
  });
});

async function familyEnd(familyId: string): Promise<Date> {
  const row = await hub.database.db
    .selectFrom('refresh_tokens')
    .select((eb) => eb.fn.max('expires_at').as('ends_at'))
    .where('family_id', '=', familyId)
    .executeTakeFirstOrThrow();
  return new Date(row.ends_at);
}
