import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let assistant: RegisteredAgent;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  assistant = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
});
afterAll(() => hub.close());

const CONSENT_FIELDS = 'id user { id } purpose { key lawfulBasis dataCategories version } agent { id name } scopes status givenAt expiresAt withdrawnAt collectionMethod policyVersion';
const give = (token: string | undefined, input: Record<string, unknown>) =>
  graphql<any>(hub, `mutation($input: GiveConsentInput!) { giveConsent(input: $input) { ${CONSENT_FIELDS} } }`, { ...(token && { token }), variables: { input } });
const withdraw = (token: string, id: string) => graphql<any>(hub, `mutation($id: ID!) { withdrawConsent(id: $id) { ${CONSENT_FIELDS} } }`, { token, variables: { id } });
const consent = (token: string, id: string) => graphql<any>(hub, `query($id: ID!) { consent(id: $id) { ${CONSENT_FIELDS} } }`, { token, variables: { id } });
const consentsOf = (userId: string) => hub.services.db.selectFrom('consents').select(['agent_id', 'scopes', 'status']).where('user_id', '=', userId).execute();
const errorOf = (response: { errors?: { extensions?: Record<string, unknown> }[] }) => response.errors?.[0]?.extensions;

describe('giveConsent', () => {
  it('records a consent to the company for a purpose', async () => {
    const response = await give(alice.accessToken, { purpose: 'email_marketing' });
    expect(response.errors).toBeUndefined();
    expect(response.data.giveConsent).toEqual({
      id: expect.stringMatching(/^cns_[0-9A-Z]{26}$/),
      user: { id: alice.id },
      purpose: { key: 'email_marketing', lawfulBasis: 'CONSENT', dataCategories: ['profile', 'contact.email', 'preferences'], version: '1' },
      agent: null,
      scopes: [],
      status: 'ACTIVE',
      givenAt: clock.now().toISOString(),
      expiresAt: null,
      withdrawnAt: null,
      collectionMethod: 'self_service',
      policyVersion: '1',
    });
  });

  it('records a consent to an agent with scopes within the purpose and the agent’s ceiling', async () => {
    const expiresAt = new Date(clock.now().getTime() + 86_400_000).toISOString();
    const response = await give(alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read', 'contact.email:read'], expiresAt, collectionMethod: 'chat_widget' });
    expect(response.data.giveConsent).toMatchObject({ agent: { id: assistant.id, name: 'Assistant' }, scopes: ['orders:read', 'contact.email:read'], expiresAt, collectionMethod: 'chat_widget' });
  });

  it.each([
    [{ purpose: 'world_domination' }, 'input.purpose'],
    [{ purpose: 'support', scopes: ['payment:read'] }, 'input.scopes'],
    [{ purpose: 'support', scopes: ['orders:read', 'nonsense'] }, 'input.scopes'],
    [{ purpose: 'email_marketing', scopes: ['contact.phone:read'] }, 'input.scopes'],
    [{ purpose: 'email_marketing', scopes: ['contact.email:read'] }, 'input.scopes'],
    [{ purpose: 'support', agentId: 'AGENT', scopes: ['contact.phone:write'] }, 'input.scopes'],
    [{ purpose: 'support', agentId: 'AGENT' }, 'input.scopes'],
    [{ purpose: 'support', agentId: 'agt_01J000000000000000000NOONE', scopes: ['orders:read'] }, 'input.agentId'],
    [{ purpose: 'support', expiresAt: '2001-01-01T00:00:00Z' }, 'input.expiresAt'],
    // The year 9999 as written, 10000 once in UTC.
    [{ purpose: 'support', expiresAt: '9999-12-31T23:30:00-01:00' }, 'input.expiresAt'],
    [{ purpose: 'support', agentId: '' }, 'input.agentId'],
    [{ purpose: 'support', agentId: '', scopes: ['orders:read'] }, 'input.agentId'],
  ])('refuses %o with BAD_USER_INPUT on %s', async (input: Record<string, unknown>, field) => {
    const withAgent = { ...input, ...(input.agentId === 'AGENT' && { agentId: assistant.id }) };
    expect(errorOf(await give(alice.accessToken, withAgent))).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('refuses an expiry at the very instant the consent is given: it would be over before it began', async () => {
    const user = await signUpUser(hub);
    const response = await give(user.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'], expiresAt: clock.now().toISOString() });
    expect(errorOf(response)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.expiresAt' });
    expect(await consentsOf(user.id)).toEqual([]);
  });

  it('is for the signed-in user themself only', async () => {
    expect(errorOf(await give(undefined, { purpose: 'support' }))).toEqual({ code: 'UNAUTHENTICATED' });
    expect(errorOf(await give(await clientToken(hub, ['consents:admin']), { purpose: 'support' }))).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const bob = await signUpUser(hub);
    await giveConsent(hub, bob.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const delegated = (await exchange(hub, assistant, bob.accessToken)).body.access_token;
    expect(errorOf(await give(delegated, { purpose: 'support' }))).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  describe('with a token handed to an agent in a token exchange', () => {
    it('refuses the agent widening its own grant, or opting the user in, with UNAUTHENTICATED, and records nothing', async () => {
      const carol = await signUpUser(hub);
      await giveConsent(hub, carol.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
      expect((await exchange(hub, assistant, carol.accessToken, { scope: 'orders:read' })).status).toBe(200);
      const widened = await give(carol.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read', 'contact:read'] });
      expect(errorOf(widened)).toEqual({ code: 'UNAUTHENTICATED' });
      expect(widened.errors?.[0]?.message).toMatch(/token exchange/);
      expect(errorOf(await give(carol.accessToken, { purpose: 'email_marketing' }))).toEqual({ code: 'UNAUTHENTICATED' });
      expect(await consentsOf(carol.id)).toEqual([{ agent_id: assistant.id, scopes: ['orders:read'], status: 'active' }]);
      expect((await exchange(hub, assistant, carol.accessToken, { scope: 'contact:read' })).status).toBe(400);
    });

    it('gives them again with a refreshed session, which no agent holds', async () => {
      const dan = await signUpUser(hub);
      await giveConsent(hub, dan.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
      expect((await exchange(hub, assistant, dan.accessToken)).status).toBe(200);
      const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: dan.refreshToken });
      const given = await give(refreshed.body.access_token, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read', 'contact:read'] });
      expect(given.errors).toBeUndefined();
      expect(given.data.giveConsent.scopes).toEqual(['orders:read', 'contact:read']);
    });
  });

  describe('with a session narrowed at refresh', () => {
    const narrowed = async (scope: string) => {
      const erin = await signUpUser(hub);
      const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: erin.refreshToken, scope });
      expect(refreshed.body.scope).toBe(scope);
      return { erin, token: refreshed.body.access_token as string };
    };

    it('delegates to an agent what the token holds, a field of a category it holds included', async () => {
      const { token } = await narrowed('orders:read contact:read');
      const given = await give(token, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read', 'contact.email:read'] });
      expect(given.errors).toBeUndefined();
    });

    it.each([
      ['a category it does not hold', ['contact:read']],
      ['a field of a category it does not hold', ['orders:read', 'contact.email:read']],
      ['the write scope of a category it reads', ['orders:write']],
    ])('refuses to delegate %s with FORBIDDEN/MISSING_SCOPE, and records nothing', async (_, scopes) => {
      const { erin, token } = await narrowed('orders:read');
      const refused = await give(token, { purpose: 'support', agentId: assistant.id, scopes });
      expect(errorOf(refused)).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
      expect(await consentsOf(erin.id)).toEqual([]);
    });

    it('gives the company a consent whose purpose the token reads every category of', async () => {
      // email_marketing covers profile, contact.email and preferences.
      const { erin, token } = await narrowed('profile:read contact.email:read preferences:read');
      expect((await give(token, { purpose: 'email_marketing' })).errors).toBeUndefined();
      expect(await consentsOf(erin.id)).toEqual([{ agent_id: null, scopes: [], status: 'active' }]);
    });

    it('refuses the company a consent whose purpose covers a category the token does not read, and records nothing', async () => {
      const { erin, token } = await narrowed('profile:read preferences:read');
      const refused = await give(token, { purpose: 'email_marketing' });
      expect(errorOf(refused)).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
      expect(refused.errors?.[0]?.message).toBe('A consent to the company for email_marketing covers profile, contact.email, preferences: this token does not read them all');
      expect(await consentsOf(erin.id)).toEqual([]);
    });
  });

  it('refuses an agent that is not active', async () => {
    const paused = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { id } }', { token: admin, variables: { id: paused.id } });
    expect(errorOf(await give(alice.accessToken, { purpose: 'support', agentId: paused.id, scopes: ['orders:read'] }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.agentId' });
  });

  it('replaces the user’s live consent for the same purpose and agent', async () => {
    const user = await signUpUser(hub);
    const first = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const second = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read', 'contact.email:read'] });
    expect((await consent(user.accessToken, first)).data.consent.status).toBe('WITHDRAWN');
    expect((await consent(user.accessToken, second)).data.consent.status).toBe('ACTIVE');
    const other = await giveConsent(hub, user.accessToken, { purpose: 'checkout', agentId: assistant.id, scopes: ['contact.email:read'] });
    expect((await consent(user.accessToken, other)).data.consent.status).toBe('ACTIVE');
    expect((await consent(user.accessToken, second)).data.consent.status).toBe('ACTIVE');
  });
});

describe('withdrawConsent', () => {
  it('ends every token and refresh token issued under the consent at once', async () => {
    const user = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const handed = (await signIn(hub, user)).accessToken;
    const issued = (await exchange(hub, assistant, handed, { scope: 'orders:read offline_access' })).body;
    expect((await graphql(hub, '{ me { id } }', { token: issued.access_token })).status).toBe(200);

    const response = await withdraw(user.accessToken, consentId);
    expect(response.data.withdrawConsent).toMatchObject({ status: 'WITHDRAWN', withdrawnAt: clock.now().toISOString() });

    const refused = await graphql(hub, '{ me { id } }', { token: issued.access_token });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('consent not in force');
    const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, basic(assistant));
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await exchange(hub, assistant, handed)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).status).toBe(200);
  });

  it('is the user’s or a consents:admin operator’s, and withdrawing twice changes nothing', async () => {
    const bob = await signUpUser(hub);
    const consentId = await giveConsent(hub, alice.accessToken, { purpose: 'personalization' });
    expect(errorOf(await withdraw(bob.accessToken, consentId))).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    expect(errorOf(await consent(bob.accessToken, consentId))).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    const operator = await clientToken(hub, ['consents:admin']);
    const first = await withdraw(operator, consentId);
    expect(first.data.withdrawConsent.status).toBe('WITHDRAWN');
    clock.advance(5);
    expect((await withdraw(alice.accessToken, consentId)).data.withdrawConsent.withdrawnAt).toBe(first.data.withdrawConsent.withdrawnAt);
  });

  it('answers NOT_FOUND to an operator for an unknown consent', async () => {
    expect(errorOf(await withdraw(await clientToken(hub, ['consents:admin']), 'cns_01J000000000000000000NOONE'))).toEqual({ code: 'NOT_FOUND' });
  });
});

describe('the ledger', () => {
  it('keeps an append-only history of each consent, and audits each change', async () => {
    const user = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    await withdraw(user.accessToken, consentId);
    const events = await hub.database.db.selectFrom('consent_events').select(['kind', 'actor_kind', 'actor_id']).where('consent_id', '=', consentId).orderBy('id').execute();
    expect(events).toEqual([
      { kind: 'given', actor_kind: 'user', actor_id: user.id },
      { kind: 'withdrawn', actor_kind: 'user', actor_id: user.id },
    ]);
    await expect(sql`update consent_events set kind = 'given' where consent_id = ${consentId}`.execute(hub.database.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from consent_events where consent_id = ${consentId}`.execute(hub.database.db)).rejects.toThrow(/append-only/);
    const audited = await hub.database.db.selectFrom('audit_events').select(['action', 'consent_id', 'purpose']).where('subject_user_id', '=', user.id).orderBy('chain_seq').execute();
    expect(audited.filter((e) => e.action.startsWith('consent.'))).toEqual([
      { action: 'consent.given', consent_id: consentId, purpose: 'support' },
      { action: 'consent.withdrawn', consent_id: consentId, purpose: 'support' },
    ]);
  });

  it('honours expiry without any job running: EXPIRED, and its tokens refused', async () => {
    const user = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 120_000).toISOString();
    const consentId = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'], expiresAt });
    const handed = (await signIn(hub, user)).accessToken;
    const issued = (await exchange(hub, assistant, handed)).body;
    expect(issued.expires_in).toBeLessThanOrEqual(120);
    clock.advance(60);
    expect((await graphql(hub, '{ me { id } }', { token: issued.access_token })).status).toBe(200);
    clock.advance(61);
    expect((await consent(user.accessToken, consentId)).data.consent.status).toBe('EXPIRED');
    expect(await exchange(hub, assistant, handed)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('is EXPIRED at the very instant of its expiry: no longer a connected agent, nor refreshed', async () => {
    const user = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 120_000);
    const consentId = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'], expiresAt: expiresAt.toISOString() });
    const issued = (await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' })).body;
    clock.advance(120);
    expect(clock.now()).toEqual(expiresAt);
    const session = await signIn(hub, user);
    expect((await consent(session.accessToken, consentId)).data.consent.status).toBe('EXPIRED');
    const connected = await graphql<any>(hub, '{ me { connectedAgents { consent { id } } } }', { token: session.accessToken });
    expect(connected.data.me.connectedAgents).toEqual([]);
    const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, basic(assistant));
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});
