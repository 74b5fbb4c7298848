import { execute, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { AccessRecorder } from '../../src/audit/access-recorder.js';
import { principalFromToken, type TokenClaims } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import { schema } from '../../src/graphql/schema.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, claimsOf, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
/** The session of Alice's she hands agents for their token exchanges, beside the one she consents with. */
let aliceHanded: string;
let assistant: RegisteredAgent;

const PROFILE = '{ me { id email phone paymentMethods { last4 } orders { edges { node { id } } } } }';
const reasons = (response: { errors?: { path?: (string | number)[]; extensions?: Record<string, unknown> }[] }) =>
  Object.fromEntries((response.errors ?? []).map((e) => [String(e.path?.at(-1)), `${e.extensions?.code}/${e.extensions?.reason}`]));

async function delegatedToken(agent: RegisteredAgent, subject: string, extra: Record<string, string> = {}) {
  const response = await exchange(hub, agent, subject, extra);
  if (response.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(response.body)}`);
  return response.body as { access_token: string; refresh_token?: string; scope: string };
}

/** Runs the real schema in process with the token's caller, as a request does once the token check has passed. */
async function executeAs(token: string, query: string) {
  const principal = principalFromToken(claimsOf(token) as TokenClaims)!;
  const result = await execute({ schema, document: parse(query), contextValue: { requestId: 'test', address: '127.0.0.1', principal, services: hub.services, access: new AccessRecorder() } });
  return { data: result.data as any, errors: result.errors?.map((e) => ({ path: e.path as (string | number)[], extensions: e.extensions })) };
}

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  alice = await signUpUser(hub, { givenName: 'Alice' });
  aliceHanded = (await signIn(hub, alice)).accessToken;
  await hub.services.db.updateTable('users').set({ phone: '+4915112345678' }).where('id', '=', alice.id).execute();
  await hub.services.db
    .insertInto('orders')
    .values({ id: 'ord_story', user_id: alice.id, placed_at: clock.now(), total_minor: 4_200, currency: 'EUR', status: 'paid', line_items: '[]' })
    .execute();
  assistant = await registerAgent(hub, admin, { name: 'AI support assistant', allowedScopes: ['orders:read', 'contact:read', 'payment:read', 'offline_access'] });
});
afterAll(() => hub.close());

describe('the AI support assistant’s story', () => {
  let consentId: string;
  let token: string;
  let refreshToken: string;

  it('reads orders and email under its consent; phone and payment methods are FORBIDDEN/MISSING_SCOPE', async () => {
    consentId = await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read', 'contact.email:read'] });
    const pair = await delegatedToken(assistant, aliceHanded, { scope: 'orders:read contact.email:read offline_access' });
    token = pair.access_token;
    refreshToken = pair.refresh_token!;
    expect(claimsOf(token)).toMatchObject({ sub: alice.id, act: { sub: assistant.id }, consent_id: consentId, purpose: 'support' });

    const response = await graphql<any>(hub, PROFILE, { token });
    expect(response.status).toBe(200);
    expect(response.data.me).toEqual({ id: alice.id, email: alice.email, phone: null, paymentMethods: null, orders: { edges: [{ node: { id: 'ord_story' } }] } });
    expect(reasons(response)).toEqual({ phone: 'FORBIDDEN/MISSING_SCOPE', paymentMethods: 'FORBIDDEN/MISSING_SCOPE' });
  });

  it('gets nothing on the very next request once the user withdraws, and its refresh token is dead', async () => {
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: alice.accessToken, variables: { id: consentId } });
    expect(withdrawn.data.withdrawConsent.status).toBe('WITHDRAWN');

    const next = await graphql<any>(hub, PROFILE, { token });
    expect(next.status).toBe(401);
    expect(next.data).toBeUndefined();
    expect(next.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, basic(assistant));
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await exchange(hub, assistant, aliceHanded)).status).toBe(400);
  });

  it('has the field decision name CONSENT_WITHDRAWN for a request already past the token check', async () => {
    const response = await executeAs(token, PROFILE);
    expect(response.data.me).toEqual({ id: alice.id, email: null, phone: null, paymentMethods: null, orders: null });
    expect(reasons(response)).toEqual({ email: 'FORBIDDEN/CONSENT_WITHDRAWN', orders: 'FORBIDDEN/CONSENT_WITHDRAWN', phone: 'FORBIDDEN/MISSING_SCOPE', paymentMethods: 'FORBIDDEN/MISSING_SCOPE' });
  });

  it('shows each step in the user’s access log', async () => {
    await hub.services.audit.flush();
    const log = await graphql<any>(hub, '{ me { accessLog(first: 50) { edges { node { action decision consentId fieldsRead fieldsDenied reason actorChain } } } } }', { token: alice.accessToken });
    const events = log.data.me.accessLog.edges.map((e: any) => e.node).reverse();
    const actions = events.map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['consent.given', 'token.exchanged', 'profile.read', 'consent.withdrawn']));
    expect(actions.indexOf('consent.given')).toBeLessThan(actions.indexOf('token.exchanged'));
    expect(actions.lastIndexOf('consent.withdrawn')).toBeGreaterThan(actions.indexOf('profile.read'));
    expect(events.find((e: any) => e.action === 'profile.read' && e.actorChain[0] === assistant.id)).toMatchObject({
      decision: 'ALLOW',
      fieldsRead: ['email', 'orders'],
      fieldsDenied: ['paymentMethods', 'phone'],
      reason: 'MISSING_SCOPE',
    });
  });
});

describe('consent expiry', () => {
  it('stops the token on the next request past expiresAt, and the field decision says CONSENT_EXPIRED', async () => {
    const expiresAt = new Date(clock.now().getTime() + 3_600_000);
    await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'], expiresAt: expiresAt.toISOString() });
    const { access_token } = await delegatedToken(assistant, aliceHanded);
    expect((await graphql<any>(hub, '{ me { orders { edges { node { id } } } } }', { token: access_token })).data.me.orders.edges).toHaveLength(1);

    clock.set(new Date(expiresAt.getTime() + 1_000));
    try {
      expect((await graphql(hub, '{ me { id } }', { token: access_token })).status).toBe(401);
      const response = await executeAs(access_token, '{ me { orders { edges { node { id } } } } }');
      expect(reasons(response)).toEqual({ orders: 'FORBIDDEN/CONSENT_EXPIRED' });
    } finally {
      clock.set('2031-03-01T09:00:00Z');
    }
  });
});

describe('a purpose that no longer covers a field', () => {
  it('refuses the field with PURPOSE_NOT_COVERED and resolves the rest', async () => {
    const define = (dataCategories: string[]) =>
      graphql<any>(
        hub,
        'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { key version dataCategories } }',
        { token: admin, variables: { i: { key: 'helpdesk', title: 'Helpdesk', description: 'Answering tickets.', lawfulBasis: 'CONSENT', dataCategories, noticeUrl: 'https://hub.example/notices/helpdesk', noticeText: `We use ${dataCategories.join(', ')}.` } } },
      );
    expect((await define(['contact', 'orders'])).data.definePurpose).toEqual({ key: 'helpdesk', version: '1', dataCategories: ['contact', 'orders'] });
    await giveConsent(hub, alice.accessToken, { purpose: 'helpdesk', agentId: assistant.id, scopes: ['orders:read', 'contact.email:read'] });
    const { access_token } = await delegatedToken(assistant, aliceHanded, { scope: 'orders:read contact.email:read' });
    expect(claimsOf(access_token).purpose).toBe('helpdesk');

    expect((await define(['orders'])).data.definePurpose).toEqual({ key: 'helpdesk', version: '2', dataCategories: ['orders'] });
    const response = await graphql<any>(hub, '{ me { email orders { edges { node { id } } } } }', { token: access_token });
    expect(response.data.me).toEqual({ email: null, orders: { edges: [{ node: { id: 'ord_story' } }] } });
    expect(reasons(response)).toEqual({ email: 'FORBIDDEN/PURPOSE_NOT_COVERED' });
  });
});

describe('sub-agents', () => {
  let parent: RegisteredAgent;
  let child: RegisteredAgent;
  let parentToken: string;
  beforeAll(async () => {
    const bob = await signUpUser(hub);
    await hub.services.db
      .insertInto('orders')
      .values({ id: 'ord_bob', user_id: bob.id, placed_at: clock.now(), total_minor: 100, currency: 'EUR', status: 'paid', line_items: '[]' })
      .execute();
    parent = await registerAgent(hub, admin, { name: 'Concierge', allowedScopes: ['orders:read', 'contact:read'] });
    child = await registerAgent(hub, admin, { name: 'Order lookup', allowedScopes: ['orders:read', 'contact:read'], parentAgentId: parent.id });
    await giveConsent(hub, bob.accessToken, { purpose: 'support', agentId: parent.id, scopes: ['orders:read', 'contact:read'] });
    parentToken = (await delegatedToken(parent, bob.accessToken)).access_token;
  });

  it('narrows a sub-agent to what it asked for: email refused with MISSING_SCOPE, orders read', async () => {
    const { access_token, scope } = await delegatedToken(child, parentToken, { scope: 'orders:read' });
    expect(scope).toBe('orders:read');
    expect(claimsOf(access_token).act).toEqual({ sub: child.id, act: { sub: parent.id } });
    const response = await graphql<any>(hub, '{ me { email orders { edges { node { id } } } } }', { token: access_token });
    expect(response.data.me).toEqual({ email: null, orders: { edges: [{ node: { id: 'ord_bob' } }] } });
    expect(reasons(response)).toEqual({ email: 'FORBIDDEN/MISSING_SCOPE' });
  });

  it('cuts off the sub-agent when its parent is suspended: 401 at once, AGENT_INACTIVE from the field decision', async () => {
    const { access_token } = await delegatedToken(child, parentToken, { scope: 'orders:read' });
    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: parent.id } });
    expect((await graphql(hub, '{ me { id } }', { token: access_token })).status).toBe(401);
    expect(reasons(await executeAs(access_token, '{ me { orders { edges { node { id } } } } }'))).toEqual({ orders: 'FORBIDDEN/AGENT_INACTIVE' });
  });

  it('cuts off the tokens a sub-agent got on its own, whose chain does not name its parent, when the parent is suspended', async () => {
    const carol = await signUpUser(hub);
    const concierge = await registerAgent(hub, admin, { name: 'Second concierge', allowedScopes: ['orders:read'] });
    const lookup = await registerAgent(hub, admin, { name: 'Second order lookup', allowedScopes: ['orders:read'], parentAgentId: concierge.id });
    await giveConsent(hub, carol.accessToken, { purpose: 'support', agentId: lookup.id, scopes: ['orders:read'] });
    const delegated = (await delegatedToken(lookup, (await signIn(hub, carol)).accessToken)).access_token;
    expect(claimsOf(delegated).act).toEqual({ sub: lookup.id });
    const own = (await postForm(hub, '/oauth/token', { grant_type: 'client_credentials', scope: 'orders:read' }, basic(lookup))).body.access_token as string;
    for (const token of [delegated, own]) expect((await graphql(hub, '{ __typename }', { token })).status).toBe(200);

    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: concierge.id } });
    for (const token of [delegated, own]) expect((await graphql(hub, '{ __typename }', { token })).status).toBe(401);
  });
});

describe('the field decision', () => {
  it('reads consent and agent state once per request, however many fields', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read', 'contact:read'] });
    await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read', 'contact:read'] });
    const { access_token } = await delegatedToken(agent, aliceHanded);
    let reads = 0;
    const original = hub.services.tokens.delegationState;
    (hub.services.tokens as { delegationState: typeof original }).delegationState = (...args) => (reads++, original(...args));
    try {
      const response = await executeAs(access_token, '{ me { email emailVerified phone orders { edges { node { id } } } } }');
      expect(response.errors).toBeUndefined();
      expect(reads).toBe(1);
    } finally {
      (hub.services.tokens as { delegationState: typeof original }).delegationState = original;
    }
  });

  it('reads the user it acts for by id, field by field as through me, and refuses another user’s profile with NOT_SUBJECT', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
    const { access_token } = await delegatedToken(agent, aliceHanded);
    const own = await executeAs(access_token, `{ user(id: "${alice.id}") { id email orders { edges { node { id } } } } }`);
    expect(own.data.user).toEqual({ id: alice.id, email: null, orders: { edges: [{ node: { id: 'ord_story' } }] } });
    expect(reasons(own)).toEqual({ email: 'FORBIDDEN/MISSING_SCOPE' });
    const carol = await signUpUser(hub);
    const response = await executeAs(access_token, `{ user(id: "${carol.id}") { id } }`);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
  });

  it('audits that refusal against the other user, and nothing for an id that names no one', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
    const { access_token } = await delegatedToken(agent, aliceHanded);
    const dave = await signUpUser(hub);
    const nobody = 'usr_01J0000000000000000000NONE';
    for (const id of [dave.id, nobody]) {
      const response = await graphql(hub, `{ user(id: "${id}") { id } }`, { token: access_token });
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    }
    await hub.services.audit.flush();
    const events = await hub.services.db
      .selectFrom('audit_events')
      .select(['subject_user_id', 'actor_id', 'decision', 'reason', 'fields_denied'])
      .where('action', '=', 'profile.read')
      .where('subject_user_id', 'in', [dave.id, nobody])
      .execute();
    expect(events).toEqual([{ subject_user_id: dave.id, actor_id: agent.id, decision: 'deny', reason: 'NOT_SUBJECT', fields_denied: ['user'] }]);
  });
});
