import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { CLOCK_SKEW_MS, fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import {
  ACCESS_TOKEN_TYPE,
  basic,
  claimsOf,
  clientCredentialsToken,
  exchange,
  giveConsent,
  operatorToken,
  registerAgent,
  TOKEN_EXCHANGE,
  type RegisteredAgent,
} from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let assistant: RegisteredAgent;
let child: RegisteredAgent;
let grandchild: RegisteredAgent;
let stranger: RegisteredAgent;
let consentId: string;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  alice = await signUpUser(hub, { givenName: 'Alice' });
  await hub.services.db
    .insertInto('orders')
    .values({ id: 'ord_alice', user_id: alice.id, placed_at: new Date(), total_minor: 990, currency: 'EUR', status: 'paid', line_items: '[]' })
    .execute();
  assistant = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  child = await registerAgent(hub, admin, { name: 'Order lookup', allowedScopes: ['orders:read', 'contact:read'], parentAgentId: assistant.id });
  grandchild = await registerAgent(hub, admin, { name: 'Order lines', allowedScopes: ['orders:read'], parentAgentId: child.id });
  stranger = await registerAgent(hub, admin, { name: 'Stranger', allowedScopes: ['orders:read', 'contact:read'] });
  consentId = await giveConsent(hub, alice.accessToken, { agentId: assistant.id, scopes: ['orders:read', 'contact.email:read'] });
});
afterAll(() => hub.close());

const delegated = async (agent: RegisteredAgent, subject: string, extra: Record<string, string> = {}) => {
  const response = await exchange(hub, agent, subject, extra);
  if (response.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(response.body)}`);
  return response.body as { access_token: string; scope: string; expires_in: number; refresh_token?: string };
};

/** A token signed with the hub's key, with the claims the hub puts in a user token, and these on top. */
async function signedUserToken(overrides: Record<string, unknown>): Promise<string> {
  const { kid, privateKey } = hub.services.keys.signingKey();
  const now = Math.floor(Date.now() / 1_000);
  const claims = { iss: hub.config.issuer, aud: hub.config.audience, sub: alice.id, client_id: 'hub-frontend', scope: 'orders:read contact:read', iat: now, exp: now + 600, jti: randomUUID(), ...overrides };
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
}

describe('token exchange for delegation (RFC 8693)', () => {
  it('issues a delegated token: sub the user, act the agent, consent_id and purpose, scope = consent ∩ ceiling ∩ subject', async () => {
    const response = await exchange(hub, assistant, alice.accessToken);
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toEqual({
      access_token: expect.any(String),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: expect.any(Number),
      scope: 'orders:read contact.email:read',
    });
    const claims = claimsOf(response.body.access_token);
    expect(claims).toMatchObject({ sub: alice.id, client_id: assistant.id, act: { sub: assistant.id }, consent_id: consentId, purpose: 'support' });
    expect(claims.exp).toBeLessThanOrEqual(claimsOf(alice.accessToken).exp);
  });

  it('gives a token that reads exactly what it was granted', async () => {
    const { access_token } = await delegated(assistant, alice.accessToken);
    const response = await graphql<any>(hub, '{ me { id email phone orders { edges { node { id } } } } }', { token: access_token });
    expect(response.data.me).toEqual({ id: alice.id, email: alice.email, phone: null, orders: { edges: [{ node: { id: 'ord_alice' } }] } });
    expect(response.errors?.map((e) => [e.path?.at(-1), e.extensions?.reason])).toEqual([['phone', 'MISSING_SCOPE']]);
  });

  it('narrows a request to what every limit allows, and says so in scope', async () => {
    expect((await delegated(assistant, alice.accessToken, { scope: 'orders:read payment:read' })).scope).toBe('orders:read');
    expect((await delegated(assistant, alice.accessToken, { scope: 'contact.email:read contact.phone:read' })).scope).toBe('contact.email:read');
  });

  it('refuses scope escalation at the first hop with invalid_scope', async () => {
    for (const scope of ['payment:read', 'contact:read', 'users:admin', 'orders:write']) {
      expect(await exchange(hub, assistant, alice.accessToken, { scope })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    }
  });

  it('refuses an exchange without client authentication', async () => {
    const form = { grant_type: TOKEN_EXCHANGE, subject_token: alice.accessToken, subject_token_type: ACCESS_TOKEN_TYPE };
    for (const extra of [{}, { client_id: assistant.id }, { client_id: 'hub-frontend' }] as Record<string, string>[]) {
      const response = await postForm(hub, '/oauth/token', { ...form, ...extra });
      expect(response).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect(response.headers['www-authenticate']).toMatch(/^Basic/);
    }
  });

  it.each([
    ['no subject_token', { subject_token: '' }],
    ['no subject_token_type', { subject_token_type: '' }],
    ['an id_token subject_token_type', { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }],
    ['an unknown subject_token_type', { subject_token_type: 'urn:example:made-up' }],
    ['a refresh_token requested_token_type', { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }],
    ['an unknown requested_token_type', { requested_token_type: 'urn:example:made-up' }],
    ['actor_token without actor_token_type', { actor_token: 'x.y.z' }],
    ['actor_token_type without actor_token', { actor_token_type: ACCESS_TOKEN_TYPE }],
    ['a subject_token that is not a token', { subject_token: 'not-a-token' }],
  ])('refuses %s with invalid_request', async (_, override) => {
    const response = await exchange(hub, assistant, alice.accessToken, override);
    expect(response).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: expect.any(String) } });
  });

  it('accepts the jwt token type and an explicit access_token requested_token_type', async () => {
    const response = await exchange(hub, assistant, alice.accessToken, { subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', requested_token_type: ACCESS_TOKEN_TYPE });
    expect(response.status).toBe(200);
  });

  it('accepts an actor_token of the client itself, and no other', async () => {
    const own = await clientCredentialsToken(hub, assistant, 'orders:read');
    expect((await exchange(hub, assistant, alice.accessToken, { actor_token: own, actor_token_type: ACCESS_TOKEN_TYPE })).status).toBe(200);
    const others = await clientCredentialsToken(hub, stranger, 'orders:read');
    expect(await exchange(hub, assistant, alice.accessToken, { actor_token: others, actor_token_type: ACCESS_TOKEN_TYPE })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
  });

  it('refuses an agent the user gave no consent, and a client-credentials token as subject', async () => {
    expect(await exchange(hub, stranger, alice.accessToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const bob = await signUpUser(hub);
    expect(await exchange(hub, assistant, bob.accessToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const own = await clientCredentialsToken(hub, assistant, 'orders:read');
    expect(await exchange(hub, assistant, own)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('refuses an expired subject token and a revoked one', async () => {
    const past = Math.floor(Date.now() / 1_000) - 700;
    expect(await exchange(hub, assistant, await signedUserToken({ iat: past, exp: past + 600 }))).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    expect((await exchange(hub, assistant, user.accessToken)).status).toBe(200);
    expect((await postForm(hub, '/oauth/revoke', { token: user.accessToken, client_id: 'hub-frontend' })).status).toBe(200);
    expect(await exchange(hub, assistant, user.accessToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('never outlives the subject token or the consent', async () => {
    const shortLived = await signedUserToken({ exp: Math.floor(Date.now() / 1_000) + 90 });
    expect((await delegated(assistant, shortLived)).expires_in).toBeLessThanOrEqual(90);
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'], expiresAt: new Date(Date.now() + 120_000).toISOString() });
    expect((await delegated(assistant, user.accessToken)).expires_in).toBeLessThanOrEqual(120);
  });

  it('picks the consent for the purpose named, when the user gave the agent several', async () => {
    const user = await signUpUser(hub);
    const support = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const checkout = await giveConsent(hub, user.accessToken, { purpose: 'checkout', agentId: assistant.id, scopes: ['contact.email:read'] });
    expect(claimsOf((await delegated(assistant, user.accessToken, { scope: 'orders:read' })).access_token).consent_id).toBe(support);
    expect(claimsOf((await delegated(assistant, user.accessToken, { purpose: 'checkout' })).access_token)).toMatchObject({ consent_id: checkout, purpose: 'checkout' });
    expect(await exchange(hub, assistant, user.accessToken, { purpose: 'email_marketing' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('refuses a consent the user withdrew: no token is issued on it', async () => {
    const user = await signUpUser(hub);
    const withdrawn = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const response = await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: user.accessToken, variables: { id: withdrawn } });
    expect(response.data).toEqual({ withdrawConsent: { status: 'WITHDRAWN' } });
    expect(await exchange(hub, assistant, user.accessToken, { scope: 'orders:read' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await exchange(hub, assistant, user.accessToken, { scope: 'orders:read offline_access' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('audits the exchange with the actor chain, purpose and consent', async () => {
    const { access_token } = await delegated(assistant, alice.accessToken, { scope: 'orders:read' });
    await hub.services.audit.flush();
    const event = await hub.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'token.exchanged')
      .where('subject_user_id', '=', alice.id)
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({ actor_kind: 'delegated', actor_id: assistant.id, actor_chain: [assistant.id], client_id: assistant.id, purpose: 'support', consent_id: consentId });
    expect(event.detail).toMatchObject({ scope: 'orders:read', jti: claimsOf(access_token).jti });
  });

  it('records the user’s token as handed to the agent until it expires, even when it refuses the exchange, and forgets records of expired tokens', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const handed = () => hub.services.db.selectFrom('exchanged_subject_tokens').select(['jti', 'agent_id', 'expires_at']).execute();
    // Expired on every instance's clock, and only on this one's: an instance behind still takes the second as unexpired.
    const expired = { jti: randomUUID(), agent_id: stranger.id, expires_at: new Date(Date.now() - CLOCK_SKEW_MS - 1_000), exchanged_at: new Date(Date.now() - 661_000) };
    const lately = { jti: randomUUID(), agent_id: stranger.id, expires_at: new Date(Date.now() - 1_000), exchanged_at: new Date(Date.now() - 601_000) };
    await hub.services.db.insertInto('exchanged_subject_tokens').values([expired, lately]).execute();

    const parentToken = (await delegated(assistant, user.accessToken)).access_token;
    await delegated(child, parentToken);
    const other = await signUpUser(hub);
    expect(await exchange(hub, stranger, other.accessToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const records = await handed();
    for (const [token, agent] of [[user.accessToken, assistant], [other.accessToken, stranger]] as const) {
      expect(records).toContainEqual({ jti: claimsOf(token).jti, agent_id: agent.id, expires_at: new Date(claimsOf(token).exp * 1_000) });
    }
    expect(records.map((record) => record.jti)).not.toContain(expired.jti);
    expect(records.map((record) => record.jti)).toContain(lately.jti);
    expect(records.map((record) => record.jti)).not.toContain(claimsOf(parentToken).jti);
  });
});

describe('the user’s own token, once handed to an agent for an exchange', () => {
  /** A user who consented to the assistant with their session, and a second session handed to it and exchanged. */
  async function handedOver() {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read', 'contact:read'] });
    const handed = (await signIn(hub, user)).accessToken;
    const agentToken = (await delegated(assistant, handed, { scope: 'orders:read' })).access_token;
    return { user, handed, agentToken };
  }

  it('is refused as a bearer token on the next request, while the delegated token and the user’s other session work', async () => {
    const { user, handed, agentToken } = await handedOver();
    const refused = await graphql(hub, '{ me { id email } }', { token: handed });
    expect(refused.status).toBe(401);
    expect(refused.data).toBeUndefined();
    expect(refused.headers['www-authenticate']).toMatch(/error="invalid_token", error_description="token handed to an agent in a token exchange"/);
    expect((await graphql<any>(hub, '{ me { id } }', { token: agentToken })).data.me.id).toBe(user.id);
    expect((await graphql<any>(hub, '{ me { email } }', { token: user.accessToken })).data.me.email).toBe(user.email);
  });

  it('lets the agent do with it nothing the user could: widen its own consent, register an agent', async () => {
    const { user, handed } = await handedOver();
    const widen = await graphql(hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', {
      token: handed,
      variables: { input: { purpose: 'support', agentId: assistant.id, scopes: ['orders:read', 'contact:read'] } },
    });
    const register = await graphql(hub, 'mutation { registerAgent(input: { name: "Mine now", kind: AI_AGENT, allowedScopes: ["contact:read"] }) { clientId } }', { token: handed });
    for (const response of [widen, register]) expect(response.status).toBe(401);
    const consents = await hub.services.db.selectFrom('consents').select('scopes').where('user_id', '=', user.id).execute();
    expect(consents).toEqual([{ scopes: ['orders:read', 'contact:read'] }]);
    expect(await hub.services.db.selectFrom('agents').select('id').where('owner_user_id', '=', user.id).execute()).toEqual([]);
  });

  it('is still the agent’s to exchange again until it expires', async () => {
    const { handed } = await handedOver();
    expect((await exchange(hub, assistant, handed, { scope: 'contact:read' })).status).toBe(200);
  });

  it('is audited once in the user’s trail as token.refused, however often it is replayed', async () => {
    const { user, handed } = await handedOver();
    for (let i = 0; i < 3; i++) expect((await graphql(hub, '{ me { id } }', { token: handed })).status).toBe(401);
    await hub.services.audit.flush();
    const refused = await hub.services.db
      .selectFrom('audit_events')
      .select(['action', 'decision', 'reason', 'detail'])
      .where('subject_user_id', '=', user.id)
      .where('action', '=', 'token.refused')
      .execute();
    expect(refused).toEqual([{ action: 'token.refused', decision: 'deny', reason: 'invalid_token: token handed to an agent in a token exchange', detail: { endpoint: 'graphql', jti: claimsOf(handed).jti } }]);
  });
  it('is refused at the data export as at /graphql, and audited there: the agent cannot take the user’s data with it', async () => {
    const { user, handed } = await handedOver();
    const refused = await hub.http.inject({ method: 'GET', url: `/users/${user.id}/export`, headers: { authorization: `Bearer ${handed}` } });
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toEqual({ error: 'invalid_token', error_description: 'token handed to an agent in a token exchange' });
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="token handed to an agent in a token exchange"');
    await hub.services.audit.flush();
    const audited = await hub.services.db.selectFrom('audit_events').select(['action', 'reason', 'detail']).where('subject_user_id', '=', user.id).where('decision', '=', 'deny').execute();
    expect(audited).toEqual([{ action: 'token.refused', reason: 'invalid_token: token handed to an agent in a token exchange', detail: { endpoint: 'data-export', jti: claimsOf(handed).jti } }]);
  });
});

describe('sub-agents', () => {
  it('let a registered child exchange its parent’s delegated token: act nests per hop, consent and purpose carry over', async () => {
    const parentToken = (await delegated(assistant, alice.accessToken)).access_token;
    const response = await delegated(child, parentToken);
    expect(response.scope).toBe('orders:read contact.email:read');
    expect(claimsOf(response.access_token)).toMatchObject({ sub: alice.id, client_id: child.id, act: { sub: child.id, act: { sub: assistant.id } }, consent_id: consentId, purpose: 'support' });
    expect((await graphql<any>(hub, '{ me { email } }', { token: response.access_token })).data.me.email).toBe(alice.email);
  });

  it('refuse scope escalation at the second hop: beyond the parent’s token, or beyond the child’s ceiling', async () => {
    const parentToken = (await delegated(assistant, alice.accessToken, { scope: 'orders:read' })).access_token;
    expect(await exchange(hub, child, parentToken, { scope: 'contact.email:read' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect((await delegated(child, parentToken, { scope: 'orders:read contact:read' })).scope).toBe('orders:read');
    const fullParent = (await delegated(assistant, alice.accessToken)).access_token;
    const childToken = (await delegated(child, fullParent)).access_token;
    expect(await exchange(hub, grandchild, childToken, { scope: 'contact.email:read' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect((await delegated(grandchild, childToken)).scope).toBe('orders:read');
  });

  it('work under the parent token’s consent alone: a purpose named must be that consent’s', async () => {
    const parentToken = (await delegated(assistant, alice.accessToken)).access_token;
    const elsewhere = await exchange(hub, child, parentToken, { purpose: 'email_marketing' });
    expect(elsewhere).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'the user has given this agent no consent in force' } });
    expect(claimsOf((await delegated(child, parentToken, { purpose: 'support' })).access_token)).toMatchObject({ consent_id: consentId, purpose: 'support' });
  });

  it('refuse an agent that is not a registered child of the acting agent', async () => {
    const parentToken = (await delegated(assistant, alice.accessToken)).access_token;
    expect(await exchange(hub, stranger, parentToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await exchange(hub, grandchild, parentToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('refuse a cycle: an agent already in the chain', async () => {
    const parentToken = (await delegated(assistant, alice.accessToken)).access_token;
    const childToken = (await delegated(child, parentToken)).access_token;
    expect(await exchange(hub, assistant, childToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await exchange(hub, assistant, parentToken)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('refuse a chain past HUB_MAX_DELEGATION_DEPTH (3)', async () => {
    const greatGrandchild = await registerAgent(hub, admin, { name: 'Too deep', allowedScopes: ['orders:read'], parentAgentId: grandchild.id });
    const one = (await delegated(assistant, alice.accessToken)).access_token;
    const two = (await delegated(child, one)).access_token;
    const three = (await delegated(grandchild, two)).access_token;
    expect(claimsOf(three).act).toEqual({ sub: grandchild.id, act: { sub: child.id, act: { sub: assistant.id } } });
    const four = await exchange(hub, greatGrandchild, three);
    expect(four).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'delegation chains are limited to 3 agents' } });
  });
});

describe('delegated lifetimes on a clock that moves between readings', () => {
  // Each reading of this clock is a second after the last, so signing a token always happens
  // later than the instant its lifetime was bounded from.
  let moving: Hub;
  beforeAll(async () => {
    let at = Date.parse('2031-05-01T08:00:00.000Z');
    const clock = { now: () => new Date((at += 1_000)) };
    moving = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  });
  afterAll(() => moving.close());

  it('never lets a delegated token outlive its subject token or its consent, exchanged or refreshed', async () => {
    const admin = await operatorToken(moving);
    const agent = await registerAgent(moving, admin, { allowedScopes: ['orders:read', 'offline_access'] });
    const user = await signUpUser(moving);
    // The subject token ends first, then the consent: each bounds one of the two grants.
    const subjectExp = claimsOf(user.accessToken).exp;
    const consentExp = subjectExp + 5;
    await giveConsent(moving, user.accessToken, { agentId: agent.id, scopes: ['orders:read'], expiresAt: new Date(consentExp * 1_000).toISOString() });

    const exchanged = await exchange(moving, agent, user.accessToken, { scope: 'orders:read offline_access' });
    expect(exchanged.status).toBe(200);
    expect(claimsOf(exchanged.body.access_token).exp).toBe(subjectExp);

    const refreshed = await postForm(moving, '/oauth/token', { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token }, basic(agent));
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.body.access_token).exp).toBe(consentExp);
  });
});

describe('a consent past its expiry, before anything marks it expired', () => {
  it('is no ground for an exchange: the user’s other consent in force is taken instead', async () => {
    const clock = fixedClock('2031-04-01T09:00:00.000Z');
    const expiring = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
    try {
      const agent = await registerAgent(expiring, await operatorToken(expiring), { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read'] });
      const user = await signUpUser(expiring);
      const support = await giveConsent(expiring, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
      clock.advance(1);
      // The newer consent, so the one an exchange naming no purpose or scope would take while in force.
      await giveConsent(expiring, user.accessToken, { purpose: 'checkout', agentId: agent.id, scopes: ['contact.email:read'], expiresAt: new Date(clock.now().getTime() + 60_000).toISOString() });
      clock.advance(61);

      const exchanged = await exchange(expiring, agent, user.accessToken);
      expect(exchanged.status).toBe(200);
      expect(claimsOf(exchanged.body.access_token)).toMatchObject({ consent_id: support, purpose: 'support' });
      expect(await exchange(expiring, agent, user.accessToken, { purpose: 'checkout' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    } finally {
      await expiring.close();
    }
  });
});

describe('records of tokens handed to agents, on an instance no agent exchanges a token at any more', () => {
  it('are forgotten all the same once the token expired on every instance’s clock, by the hub’s housekeeping', async () => {
    const clock = fixedClock('2031-03-01T09:00:00.000Z');
    const idle = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock, housekeepingEveryMs: 50 });
    try {
      const agent = await registerAgent(idle, await operatorToken(idle), { name: 'Support assistant', allowedScopes: ['orders:read'] });
      const user = await signUpUser(idle);
      await giveConsent(idle, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
      const handedOver = (await signIn(idle, user)).accessToken;
      expect((await exchange(idle, agent, handedOver)).status).toBe(200);
      const recorded = async () => (await idle.services.db.selectFrom('exchanged_subject_tokens').select('jti').where('jti', '=', claimsOf(handedOver).jti).execute()).length;
      expect(await recorded()).toBe(1);

      // Expired on this instance's clock, not yet on one behind it.
      clock.set(new Date(claimsOf(handedOver).exp * 1_000 + CLOCK_SKEW_MS / 2));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await recorded()).toBe(1);

      clock.set(new Date(claimsOf(handedOver).exp * 1_000 + CLOCK_SKEW_MS + 1_000));
      await vi.waitFor(async () => expect(await recorded()).toBe(0), { timeout: 5_000, interval: 50 });
    } finally {
      await idle.close();
    }
  });
});
