import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { loadConfig } from '../../src/config.js';
import { insertConsent } from '../../src/consent/consent.queries.js';
import { findPurpose } from '../../src/consent/purposes.js';
import { createErasureService, ERASURE_REASON } from '../../src/privacy/erasure.service.js';
import { newId } from '../../src/shared/ids.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, postForm } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorCredentials, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { ERASE, PASSWORD, agentReads, customer } from './privacy-fixtures.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
let admin: string;
let assistant: RegisteredAgent;

const DAY = 86_400;

const erase = (id: string, token?: string) => graphql<any>(hub, ERASE, { variables: { id }, ...(token && { token }) });
const named = (n: string) => customer(hub, { givenName: n, familyName: 'Guard' }, clock.now());
const refresh = (refreshToken: string, extra: Record<string, string> = {}) =>
  postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: refreshToken, ...extra });
const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }';
const signIn = async (email: string): Promise<string> => (await graphql<any>(hub, SIGN_IN, { variables: { input: { email, password: PASSWORD } } })).data.signIn.accessToken;
const statusOf = async (id: string) => (await hub.services.db.selectFrom('users').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  assistant = await registerAgent(hub, admin, { allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
});
afterAll(() => hub.close());

describe('who may erase', () => {
  it('refuses anyone but the user and users:admin, with the reason', async () => {
    const carol = await named('Carol');
    const dan = await named('Dan');
    const { token: agentToken } = await agentReads(hub, assistant, carol.accessToken);
    const reader = await clientToken(hub, ['profile:read', 'audit:read'], 'agt_01J0000000000000000000READ');
    expect((await erase(carol.id)).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    for (const token of [dan.accessToken, agentToken, reader]) {
      const refused = await erase(carol.id, token);
      expect(refused.data).toBeNull();
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    }
    const still = await hub.services.db.selectFrom('users').select(['status', 'email']).where('id', '=', carol.id).executeTakeFirstOrThrow();
    expect(still).toEqual({ status: 'active', email: carol.email });
  });

  it('records each refusal in the person’s own audit trail, naming who asked and why, and nothing about an id that names no one', async () => {
    const lou = await named('Lou');
    const mia = await named('Mia');
    const { token: agentToken } = await agentReads(hub, assistant, lou.accessToken);
    const reader = await clientToken(hub, ['profile:read', 'audit:read'], 'agt_01J0000000000000000000READ');
    const narrowed = (await refresh(lou.refreshToken, { scope: 'profile:read' })).body.access_token;
    const trailOf = async (userId: string) => {
      await hub.services.audit.flush();
      return (await findAuditEvents(hub.services.db, { filter: { userId }, first: 100 })).edges.map((e) => e.node);
    };
    const before = (await trailOf(lou.id)).length;

    expect((await erase(lou.id)).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    for (const token of [mia.accessToken, agentToken, reader, narrowed]) expect((await erase(lou.id, token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const unknown = 'usr_01J00000000000000000000000';
    expect((await erase(unknown, mia.accessToken)).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });

    // One event per refusal, and nothing else (no read recorded beside it); the anonymous caller names no one.
    const trail = await trailOf(lou.id);
    expect(trail).toHaveLength(before + 4);
    expect(trail.slice(0, 4).reverse().map((e) => [e.action, e.decision, e.actor, e.reason, e.subjectUserId])).toEqual([
      ['user.erased', 'DENY', { kind: 'user', id: mia.id }, 'NOT_SUBJECT', lou.id],
      ['user.erased', 'DENY', { kind: 'delegated', id: assistant.id }, 'NOT_SUBJECT', lou.id],
      ['user.erased', 'DENY', { kind: 'client', id: 'agt_01J0000000000000000000READ' }, 'NOT_SUBJECT', lou.id],
      ['user.erased', 'DENY', { kind: 'user', id: lou.id }, 'MISSING_SCOPE', lou.id],
    ]);
    expect(trail[0]!.requestId).toEqual(expect.any(String));
    expect(await trailOf(unknown)).toEqual([]);
    const byMia = (await findAuditEvents(hub.services.db, { filter: { action: 'user.erased', decision: 'DENY' }, first: 100 })).edges.filter((e) => e.node.actor.id === mia.id);
    expect(byMia.map((e) => e.node.subjectUserId)).toEqual([lou.id]);
    expect(await statusOf(lou.id)).toBe('active');
  });

  it('refuses the user’s own token narrowed at refresh, with MISSING_SCOPE: ending the account takes every scope of a sign-in', async () => {
    const hana = await named('Hana');
    const narrowed = await refresh(hana.refreshToken, { scope: 'profile:read' });
    expect(narrowed.body.scope).toBe('profile:read');
    const refused = await erase(hana.id, narrowed.body.access_token);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(await statusOf(hana.id)).toBe('active');
  });

  it('answers BAD_USER_INPUT for an id that is not a user id and NOT_FOUND for an unknown user', async () => {
    const bad = await erase('agt_01J0000000000000000000READ', admin);
    expect(bad.errors?.[0]).toMatchObject({ message: 'id: is not a user id', extensions: { code: 'BAD_USER_INPUT', field: 'id' } });
    const long = await erase(`usr_${'x'.repeat(5_000)}`, admin);
    expect(long.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    const unknown = await erase('usr_01J00000000000000000000000', admin);
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('lets an operator with users:admin erase a suspended user', async () => {
    const eve = await named('Eve');
    await hub.services.db.updateTable('users').set({ status: 'suspended' }).where('id', '=', eve.id).execute();
    const response = await erase(eve.id, admin);
    expect(response.data.eraseUser).toMatchObject({ userId: eve.id, alreadyErased: false, paymentMethodsDeleted: 1 });
  });

  it('records an operator’s erasure in the person’s trail, naming the operator', async () => {
    const frank = await named('Frank');
    expect((await erase(frank.id, admin)).errors).toBeUndefined();
    const page = await findAuditEvents(hub.services.db, { filter: { userId: frank.id, action: 'user.erased' } });
    expect(page.edges.map((e) => e.node)).toEqual([
      expect.objectContaining({ actor: { kind: 'client', id: operatorCredentials(hub).clientId }, subjectUserId: frank.id, decision: 'ALLOW' }),
    ]);
  });
});

describe('erasing an erased person again', () => {
  it('withdraws a consent still in force, as one given while the first erasure ran would be, and changes nothing else', async () => {
    const lena = await named('Lena');
    expect((await erase(lena.id, admin)).data.eraseUser).toMatchObject({ alreadyErased: false });
    const support = (await findPurpose(hub.services.db, 'support'))!;
    const left = await insertConsent(hub.services.db, {
      id: newId('cns'),
      userId: lena.id,
      purpose: 'support',
      agentId: null,
      scopes: [],
      givenAt: clock.now(),
      expiresAt: null,
      collectionMethod: 'self_service',
      policyVersion: support.version,
      receipt: null,
    });

    const again = await erase(lena.id, admin);
    expect(again.data.eraseUser).toMatchObject({ alreadyErased: true, consentsWithdrawn: 1, agentsDecommissioned: 0, refreshTokensRevoked: 0 });
    const [withdrawn] = await hub.services.consents.findConsents(hub.services.db, [left.id]);
    expect(withdrawn).toMatchObject({ status: 'withdrawn', withdrawnAt: clock.now() });
    const history = await hub.services.consents.findHistory(hub.services.db, [left.id]);
    expect(history.map((event) => [event.kind, event.detail])).toEqual([['withdrawn', { reason: ERASURE_REASON }]]);
    expect((await erase(lena.id, admin)).data.eraseUser).toMatchObject({ alreadyErased: true, consentsWithdrawn: 0 });
  });
});

describe('a suspended user', () => {
  const SET_STATUS = (name: string) => `mutation($id: ID!) { ${name}(id: $id) { id status } }`;
  const setStatus = (name: 'suspendUser' | 'reactivateUser', id: string, token = admin) => graphql<any>(hub, SET_STATUS(name), { token, variables: { id } });

  it('has their own and their agents’ tokens refused on the next request, sign-in and refresh too, and accepted again once reactivated', async () => {
    const frank = await named('Frank');
    const { token: agentToken, subjectToken } = await agentReads(hub, assistant, frank.accessToken);
    const status = async (token: string) => (await graphql(hub, '{ me { id } }', { token })).status;
    expect([await status(frank.accessToken), await status(agentToken)]).toEqual([200, 200]);

    expect((await setStatus('suspendUser', frank.id)).data.suspendUser).toEqual({ id: frank.id, status: 'SUSPENDED' });
    for (const token of [frank.accessToken, agentToken]) {
      const response = await graphql(hub, '{ me { id } }', { token });
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toContain('error_description="user not active"');
    }
    const introspected = await postForm(hub, '/oauth/introspect', { token: agentToken }, basic(operatorCredentials(hub)));
    expect(introspected).toMatchObject({ status: 200, body: { active: false } });
    const exchanged = await exchange(hub, assistant, subjectToken, { scope: 'orders:read' });
    expect(exchanged).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'subject_token is invalid' } });
    const signInRefused = await graphql<any>(hub, SIGN_IN, { variables: { input: { email: frank.email, password: PASSWORD } } });
    expect(signInRefused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await refresh(frank.refreshToken)).body.error).toBe('invalid_grant');
    // Suspending again changes nothing and records nothing.
    expect((await setStatus('suspendUser', frank.id)).data.suspendUser.status).toBe('SUSPENDED');

    expect((await setStatus('reactivateUser', frank.id)).data.reactivateUser).toEqual({ id: frank.id, status: 'ACTIVE' });
    expect([await status(frank.accessToken), await status(agentToken)]).toEqual([200, 200]);
    const trail = (await findAuditEvents(hub.services.db, { filter: { userId: frank.id }, first: 100 })).edges.map((e) => e.node).filter((e) => /^user\.(suspended|reactivated)$/.test(e.action));
    const operator = { kind: 'client', id: operatorCredentials(hub).clientId };
    expect(trail.map((e) => [e.action, e.actor, e.decision])).toEqual([
      ['user.reactivated', operator, 'ALLOW'],
      ['user.suspended', operator, 'ALLOW'],
    ]);
  });

  it('is for users:admin only, names a user that exists, and never brings back an erased one', async () => {
    const hana = await named('Hana');
    const reader = await clientToken(hub, ['profile:read'], 'agt_01J0000000000000000000READ');
    for (const token of [hana.accessToken, reader]) expect((await setStatus('suspendUser', hana.id, token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await statusOf(hana.id)).toBe('active');
    expect((await setStatus('suspendUser', 'agt_01J0000000000000000000READ')).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect((await setStatus('suspendUser', 'usr_01J00000000000000000000000')).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await erase(hana.id, admin)).errors).toBeUndefined();
    expect((await setStatus('reactivateUser', hana.id)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await statusOf(hana.id)).toBe('erased');
  });

  it('is lifted by users:admin only: another user and an operator without it are refused, and the user stays suspended', async () => {
    const iris = await named('Iris');
    const other = await named('Jude');
    const reader = await clientToken(hub, ['profile:read', 'agents:admin'], 'agt_01J0000000000000000000RACT');
    expect((await setStatus('suspendUser', iris.id)).data.suspendUser.status).toBe('SUSPENDED');
    for (const token of [other.accessToken, reader]) {
      const refused = await setStatus('reactivateUser', iris.id, token);
      expect(refused.data).toBeNull();
      expect(refused.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    }
    expect(await statusOf(iris.id)).toBe('suspended');
  });
});

describe('a failure mid-erasure', () => {
  it('leaves nothing half-written: the person, their consents, tokens, cards and audiences are as they were', async () => {
    const gina = await named('Gina');
    await giveConsent(hub, gina.accessToken, { purpose: 'email_marketing' });
    await agentReads(hub, assistant, gina.accessToken);
    const snapshot = async () => ({
      user: await hub.services.db.selectFrom('users').selectAll().where('id', '=', gina.id).executeTakeFirstOrThrow(),
      consents: await hub.services.db.selectFrom('consents').select(['id', 'status']).where('user_id', '=', gina.id).orderBy('id').execute(),
      consentEvents: await hub.services.db.selectFrom('consent_events').select('id').where('user_id', '=', gina.id).execute(),
      refreshTokens: await hub.services.db.selectFrom('refresh_tokens').select(['id', 'revoked_at']).where('user_id', '=', gina.id).orderBy('id').execute(),
      cards: await hub.services.db.selectFrom('payment_methods').select('id').where('user_id', '=', gina.id).execute(),
      audiences: await hub.services.db.selectFrom('audience_members').select('purpose').where('user_id', '=', gina.id).execute(),
      audit: (await findAuditEvents(hub.services.db, { filter: { userId: gina.id }, first: 100 })).edges.length,
    });
    const before = await snapshot();
    expect(before.audiences).toEqual([{ purpose: 'email_marketing' }]);

    const failing = createErasureService({
      ...hub.services,
      onErased: async () => {
        throw new Error('the outbox is unreachable');
      },
    });
    await expect(failing.erase(gina.id, { principal: { kind: 'anonymous' }, requestId: null })).rejects.toThrow('the outbox is unreachable');

    expect(await snapshot()).toEqual(before);
    expect((await graphql(hub, '{ me { id } }', { token: gina.accessToken })).status).toBe(200);
    expect(await verifyAuditChains(hub.services.db)).toMatchObject({ broken: undefined });
  });
});

describe('the user erasing their own account', () => {
  /** A session of a user who typed their password `seconds` ago, on an access token refreshed since (each lives 10 minutes). */
  async function signedInAgo(name: string, seconds: number) {
    const user = await named(name);
    clock.advance(seconds - 60);
    const session = await refresh(user.refreshToken);
    expect(session.status).toBe(200);
    clock.advance(60);
    return { ...user, token: session.body.access_token as string };
  }

  it('must have signed in within the last 10 minutes: a session refreshed 20 days on is told to sign in again', async () => {
    const ivan = await signedInAgo('Ivan', 20 * DAY);
    const refused = await erase(ivan.id, ivan.token);
    expect(refused.status).toBe(200);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringContaining('sign in again'), extensions: { code: 'UNAUTHENTICATED' } });
    expect(await statusOf(ivan.id)).toBe('active');
    await hub.services.audit.flush();
    const refusals = await findAuditEvents(hub.services.db, { filter: { userId: ivan.id, action: 'user.erased', decision: 'DENY' }, first: 10 });
    expect(refusals.edges.map((e) => [e.node.actor, e.node.reason])).toEqual([[{ kind: 'user', id: ivan.id }, 'REAUTHENTICATE']]);

    const fresh = await signIn(ivan.email);
    expect((await erase(ivan.id, fresh)).data.eraseUser).toMatchObject({ userId: ivan.id, alreadyErased: false });
  });

  it('counts the 10 minutes from the sign-in to the second, and leaves an operator with users:admin free to erase', async () => {
    const judy = await signedInAgo('Judy', 10 * 60);
    expect((await erase(judy.id, judy.token)).data.eraseUser).toMatchObject({ userId: judy.id, alreadyErased: false });

    const karl = await signedInAgo('Karl', 10 * 60 + 1);
    expect((await erase(karl.id, karl.token)).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await erase(karl.id, await operatorToken(hub))).data.eraseUser).toMatchObject({ userId: karl.id, alreadyErased: false });
  });
});
