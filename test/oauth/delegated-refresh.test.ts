import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { basic, claimsOf, exchange, giveConsent, operatorToken, registerAgent, type ClientCredentials, type RegisteredAgent } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let assistant: RegisteredAgent;
let child: RegisteredAgent;
let stranger: RegisteredAgent;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  assistant = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  child = await registerAgent(hub, admin, { name: 'Child', allowedScopes: ['orders:read'], parentAgentId: assistant.id });
  stranger = await registerAgent(hub, admin, { name: 'Stranger', allowedScopes: ['orders:read', 'offline_access'] });
});
afterAll(() => hub.close());

const refresh = (client: ClientCredentials | undefined, refreshToken: string, extra: Record<string, string> = {}) =>
  postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, client ? basic(client) : {});

/** A user who consented to the assistant, and the delegated pair the assistant got with offline_access. */
async function delegatedSession(scopes = ['orders:read', 'contact.email:read']) {
  const user = await signUpUser(hub);
  const consentId = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes });
  const response = await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: `${scopes.join(' ')} offline_access` });
  expect(response.status).toBe(200);
  return { user, consentId, accessToken: response.body.access_token as string, refreshToken: response.body.refresh_token as string, scope: response.body.scope as string };
}

describe('refresh tokens for delegated access', () => {
  it('are issued by an exchange asking offline_access, which stays out of the access token', async () => {
    const session = await delegatedSession();
    expect(session.refreshToken).toMatch(/^rt_[0-9A-Z]{26}~rt_[0-9A-Z]{26}~[\w-]{43}~[\w-]{22}$/);
    expect(session.scope).toBe('orders:read contact.email:read offline_access');
    expect(claimsOf(session.accessToken).scope).toBe('orders:read contact.email:read');
  });

  it('rotate on use and keep the delegation: same act, consent and purpose, for hours after the user left', async () => {
    const session = await delegatedSession();
    const first = await refresh(assistant, session.refreshToken);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600, refresh_token: expect.any(String), scope: 'orders:read contact.email:read' });
    expect(first.body.refresh_token).not.toBe(session.refreshToken);
    expect(claimsOf(first.body.access_token)).toMatchObject({ sub: session.user.id, client_id: assistant.id, act: { sub: assistant.id }, consent_id: session.consentId, purpose: 'support' });
    expect((await graphql<any>(hub, '{ me { email } }', { token: first.body.access_token })).data.me.email).toBe(session.user.email);
    expect((await refresh(assistant, first.body.refresh_token)).status).toBe(200);
  });

  it('revoke the whole family when a used token comes back', async () => {
    const session = await delegatedSession();
    const next = await refresh(assistant, session.refreshToken);
    expect(await refresh(assistant, session.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(assistant, next.body.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('revoke the whole family when a used token comes back after its row is gone, and serve no other agent with it', async () => {
    const session = await delegatedSession();
    const tokens = [session.refreshToken];
    for (let i = 0; i < 3; i++) tokens.push((await refresh(assistant, tokens.at(-1)!)).body.refresh_token);
    const rows = await hub.services.db.selectFrom('refresh_tokens').select('id').where('user_id', '=', session.user.id).where('client_id', '=', assistant.id).execute();
    expect(rows.map((row) => row.id)).not.toContain(tokens[1]!.split('~')[0]);
    // Another agent holding it is refused, and ends nothing.
    expect(await refresh(stranger, tokens[1]!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const next = await refresh(assistant, tokens[3]!);
    expect(next.status).toBe(200);
    expect(await refresh(assistant, tokens[1]!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(assistant, next.body.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const log = await graphql<any>(hub, '{ me { accessLog(first: 20) { edges { node { action decision reason clientId } } } } }', { token: session.user.accessToken });
    expect(log.data.me.accessLog.edges.map((edge: any) => edge.node)).toContainEqual({ action: 'token.revoked', decision: 'DENY', reason: expect.stringContaining('reused'), clientId: assistant.id });
  });

  it('serve only the agent they were issued to, authenticated', async () => {
    const session = await delegatedSession();
    expect(await refresh(stranger, session.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(undefined, session.refreshToken, { client_id: 'hub-frontend' })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(undefined, session.refreshToken, { client_id: assistant.id })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect((await refresh(assistant, session.refreshToken)).status).toBe(200);
  });

  it('may narrow the access token’s scope, never widen it; the new refresh token keeps the scope of the one used (RFC 6749 §6)', async () => {
    const session = await delegatedSession();
    const narrowed = await refresh(assistant, session.refreshToken, { scope: 'orders:read' });
    expect(narrowed.body.scope).toBe('orders:read');
    expect(claimsOf(narrowed.body.access_token).scope).toBe('orders:read');
    const restored = await refresh(assistant, narrowed.body.refresh_token);
    expect(restored.body.scope).toBe('orders:read contact.email:read');
    expect(claimsOf(restored.body.access_token).scope).toBe('orders:read contact.email:read');
    expect(await refresh(assistant, restored.body.refresh_token, { scope: 'orders:read contact:read' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('take back the whole scope the exchange answered as granted, offline_access included, which stays out of the access token', async () => {
    const session = await delegatedSession();
    const next = await refresh(assistant, session.refreshToken, { scope: session.scope });
    expect(next).toMatchObject({ status: 200, body: { scope: 'orders:read contact.email:read' } });
    expect(claimsOf(next.body.access_token).scope).toBe('orders:read contact.email:read');
    expect(await refresh(assistant, next.body.refresh_token, { scope: 'offline_access' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('refuse an audience or resource other than the hub’s API with invalid_target, leaving the token unspent', async () => {
    const session = await delegatedSession();
    for (const name of ['audience', 'resource']) {
      expect(await refresh(assistant, session.refreshToken, { [name]: 'https://elsewhere.example/api' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    }
    expect((await refresh(assistant, session.refreshToken, { resource: hub.config.audience })).status).toBe(200);
  });

  it('are refused to an agent whose ceiling lacks offline_access', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const parentToken = (await exchange(hub, assistant, user.accessToken)).body.access_token;
    expect(await exchange(hub, child, parentToken, { scope: 'orders:read offline_access' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('are refused to an agent whose ceiling lacks offline_access at a first hop too, and no family is stored', async () => {
    const widget = await registerAgent(hub, admin, { name: 'Widget', allowedScopes: ['orders:read'] });
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: widget.id, scopes: ['orders:read'] });
    const refused = await exchange(hub, widget, user.accessToken, { scope: 'orders:read offline_access' });
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect(refused.body.refresh_token).toBeUndefined();
    expect(await hub.services.db.selectFrom('refresh_tokens').select('id').where('client_id', '=', widget.id).execute()).toEqual([]);
  });

  it('die with the consent: withdrawal revokes them at once', async () => {
    const session = await delegatedSession();
    const withdrawn = await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: session.user.accessToken, variables: { id: session.consentId } });
    expect(withdrawn.data).toEqual({ withdrawConsent: { status: 'WITHDRAWN' } });
    expect(await refresh(assistant, session.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await graphql(hub, '{ me { id } }', { token: session.accessToken })).status).toBe(401);
  });

  it('die with the agent: a suspended one cannot use them, a decommissioned one never again', async () => {
    const session = await delegatedSession();
    const other = await registerAgent(hub, admin, { name: 'Short-lived', allowedScopes: ['orders:read', 'offline_access'] });
    const otherUser = await signUpUser(hub);
    await giveConsent(hub, otherUser.accessToken, { agentId: other.id, scopes: ['orders:read'] });
    const otherSession = (await exchange(hub, other, otherUser.accessToken, { scope: 'orders:read offline_access' })).body;

    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: other.id } });
    expect(await refresh(other, otherSession.refresh_token)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    await graphql(hub, 'mutation($id: ID!) { reactivateAgent(id: $id) { status } }', { token: admin, variables: { id: other.id } });
    const again = await refresh(other, otherSession.refresh_token);
    expect(again.status).toBe(200);

    await graphql(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id: other.id } });
    const row = await hub.database.db.selectFrom('refresh_tokens').select('revoked_at').where('client_id', '=', other.id).where('rotated_at', 'is', null).executeTakeFirstOrThrow();
    expect(row.revoked_at).toBeInstanceOf(Date);
    expect((await refresh(assistant, session.refreshToken)).status).toBe(200);
  });
});

describe('a delegated refresh token that is no longer the family’s to use', () => {
  const clock = fixedClock('2031-06-01T09:00:00.000Z');
  let idle: Hub;
  let agent: RegisteredAgent;
  beforeAll(async () => {
    idle = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
    agent = await registerAgent(idle, await operatorToken(idle), { name: 'Assistant', allowedScopes: ['orders:read', 'offline_access'] });
  });
  afterAll(() => idle.close());

  /** A first hop's family, which stands on a consent with no expiry. */
  async function offlineSession() {
    const user = await signUpUser(idle);
    await giveConsent(idle, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const response = await exchange(idle, agent, user.accessToken, { scope: 'orders:read offline_access' });
    expect(response.status).toBe(200);
    return response.body.refresh_token as string;
  }
  const use = (refreshToken: string) => postForm(idle, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, basic(agent));
  const introspect = (refreshToken: string) => postForm(idle, '/oauth/introspect', { token: refreshToken, token_type_hint: 'refresh_token' }, basic(agent));

  it('is inactive at introspection once rotated, while the token that replaced it is active', async () => {
    const used = await offlineSession();
    const next = await use(used);
    expect(next.status).toBe(200);
    expect((await introspect(used)).body).toEqual({ active: false });
    expect((await introspect(next.body.refresh_token)).body).toMatchObject({ active: true, token_type: 'refresh_token' });
  });

  it('ends 30 days after it was issued when left unused, though the consent it stands on has no end: inactive and refused', async () => {
    const unused = await offlineSession();
    clock.advance(30 * 24 * 3_600 - 1);
    expect((await introspect(unused)).body.active).toBe(true);
    clock.advance(1);
    expect((await introspect(unused)).body).toEqual({ active: false });
    expect(await use(unused)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});
