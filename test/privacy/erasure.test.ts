import { spawnSync } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, postForm, signIn as signInUser, signUpUser } from '../helpers/hub.js';
import { basic, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { hubArgs } from '../helpers/run-node.js';
import { ERASE, PASSWORD, agentReads, customer, paymentApprovals, verifiedReceipt } from './privacy-fixtures.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
let database: TestDatabase;
let hub: Hub;
let admin: string;
let marketing: string;
let audienceId: string;
let alice: Awaited<ReturnType<typeof customer>>;
/** The session of Alice's she hands agents for their token exchanges, beside the one she erases her account with. */
let aliceHanded: Awaited<ReturnType<typeof signInUser>>;
let assistant: RegisteredAgent;
let ownAgent: RegisteredAgent;
let delegated: Awaited<ReturnType<typeof agentReads>>;
let approvalIds: string[];
let receiptsBefore: Map<string, string | null>;
let erasure: Record<string, unknown>;
let failuresAfterErasure: unknown[];

const signIn = (email: string) =>
  graphql<any>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { user { id } } }', { variables: { input: { email, password: PASSWORD } } });
const audienceExport = async () =>
  (await hub.http.inject({ method: 'GET', url: `/audiences/${audienceId}/export`, headers: { authorization: `Bearer ${marketing}` } })).body.split('\n').filter(Boolean).map((line) => JSON.parse(line).id);
const consentsOf = (userId: string) => hub.services.db.selectFrom('consents').selectAll().where('user_id', '=', userId).orderBy('id').execute();

beforeAll(async () => {
  database = await createTestDatabase();
  hub = await createHub(loadConfig(TEST_ENV), { database, clock });
  admin = await operatorToken(hub);
  marketing = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read'], 'agt_01J0000000000000000000MKTG');
  const saved = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
    token: marketing,
    variables: { input: { name: 'Newsletter', purpose: 'email_marketing', filter: {} } },
  });
  audienceId = saved.data.createAudience.id;

  alice = await customer(hub, { givenName: 'Alice', familyName: 'Erasmus' }, clock.now());
  // What the profile holds besides what she typed in: her language, her standing in the loyalty scheme, a verified email.
  await hub.services.db.updateTable('users').set({ locale: 'is-IS', loyalty_tier: 'gold', loyalty_points: 1_250, email_verified: true }).where('id', '=', alice.id).execute();
  aliceHanded = await signInUser(hub, alice);
  assistant = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
  ownAgent = await registerAgent(hub, alice.accessToken, { name: 'Alice’s shopping helper', description: 'Buys hiking gear for Alice Erasmus', allowedScopes: ['orders:read'] });
  delegated = await agentReads(hub, assistant, alice.accessToken, aliceHanded.accessToken);
  const shopper = await registerAgent(hub, admin, { name: 'Shopping assistant', allowedScopes: ['payment:read', 'payment:write'] });
  approvalIds = await paymentApprovals(hub, shopper, alice.accessToken, aliceHanded.accessToken);
  expect(await audienceExport()).toContain(alice.id);
  receiptsBefore = new Map((await consentsOf(alice.id)).map((c) => [c.id, c.receipt]));
  const wrong = await graphql<any>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { user { id } } }', { variables: { input: { email: alice.email, password: 'not the password at all' } } });
  expect(wrong.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

  const response = await graphql<any>(hub, ERASE, { token: alice.accessToken, variables: { id: alice.id } });
  expect(response.errors).toBeUndefined();
  erasure = response.data.eraseUser;
  failuresAfterErasure = await hub.services.db.selectFrom('sign_in_throttle').selectAll().where('key', 'like', `%:${alice.email}`).execute();
  await hub.services.audit.flush();
});
afterAll(() => hub.close());

describe('eraseUser by the user themself', () => {
  it('answers what it did', () => {
    expect(erasure).toEqual({
      userId: alice.id,
      erasedAt: '2031-03-01T09:00:00.000Z',
      alreadyErased: false,
      consentsWithdrawn: 3,
      agentsDecommissioned: 1,
      refreshTokensRevoked: 3,
      paymentMethodsDeleted: 1,
      approvalsDeleted: 2,
      audienceMembershipsRemoved: 1,
    });
  });

  it('decommissions the agents the person owned: they act for nobody now', async () => {
    const agent = await hub.services.db.selectFrom('agents').select('status').where('id', '=', ownAgent.id).executeTakeFirstOrThrow();
    expect(agent.status).toBe('decommissioned');
    const token = await postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(ownAgent));
    expect(token).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('makes sign-in with the erased account fail', async () => {
    const response = await signIn(alice.email);
    expect(response.data).toBeNull();
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('kills the user’s and the agent’s access tokens (401 on the next request) and every refresh token', async () => {
    for (const token of [alice.accessToken, delegated.token]) {
      const response = await graphql(hub, '{ me { id } }', { token });
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    }
    for (const refreshToken of [alice.refreshToken, aliceHanded.refreshToken]) {
      const own = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'hub-frontend' });
      expect(own).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    }
    const agents = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: delegated.refreshToken }, basic(assistant));
    expect(agents).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('takes the user out of every audience and audience export', async () => {
    expect(await audienceExport()).not.toContain(alice.id);
    const page = await graphql<any>(hub, '{ audience(purpose: "email_marketing") { edges { node { id } } } }', { token: marketing });
    expect(page.data.audience.edges.map((e: any) => e.node.id)).not.toContain(alice.id);
    expect(await hub.services.db.selectFrom('audience_members').select('user_id').where('user_id', '=', alice.id).execute()).toEqual([]);
  });

  it('withdraws every consent in the ledger, each withdrawal with a signed receipt, and keeps the receipts, still verifiable', async () => {
    const consents = await consentsOf(alice.id);
    expect(consents.map((c) => [c.status, c.withdrawn_at])).toEqual(Array(3).fill(['withdrawn', new Date('2031-03-01T09:00:00Z')]));
    for (const consent of consents) {
      expect(consent.receipt).toBe(receiptsBefore.get(consent.id));
      expect(await verifiedReceipt(hub, consent.receipt!)).toMatchObject({ consentReceiptID: consent.id, piiPrincipalId: alice.id });
    }
    const events = await hub.services.db.selectFrom('consent_events').select(['consent_id', 'kind', 'actor_id', 'detail']).where('user_id', '=', alice.id).orderBy('id').execute();
    const withdrawals = events.filter((e) => e.kind === 'withdrawn');
    expect(withdrawals).toEqual(consents.map((c) => ({ consent_id: c.id, kind: 'withdrawn', actor_id: alice.id, detail: { reason: 'user erased', receipt: expect.any(String) } })));
    const withdrawnAt = Math.floor(new Date('2031-03-01T09:00:00Z').getTime() / 1_000);
    for (const { consent_id, detail } of withdrawals) {
      expect(await verifiedReceipt(hub, detail.receipt as string)).toMatchObject({ consentReceiptID: consent_id, piiPrincipalId: alice.id, consentStatus: 'withdrawn', withdrawnAt });
    }
  });

  it('deletes the person’s payment approvals, answered or not: none can be read, answered or used', async () => {
    expect(await hub.services.db.selectFrom('approvals').select('id').where('user_id', '=', alice.id).execute()).toEqual([]);
    for (const id of approvalIds) {
      const response = await graphql<any>(hub, 'query($id: ID!) { approval(id: $id) { id description card { last4 } authorizationDetails } }', { token: admin, variables: { id } });
      expect(response.data).toEqual({ approval: null });
    }
  });

  it('forgets every sign-in counted against the email, and the email with it', () => {
    expect(failuresAfterErasure).toEqual([]);
  });

  it('leaves nothing that names the person: the profile is blank, the kept rows carry only the usr_ id', async () => {
    const user = await hub.services.db.selectFrom('users').selectAll().where('id', '=', alice.id).executeTakeFirstOrThrow();
    expect(user).toMatchObject({ status: 'erased', email: null, password_hash: null, phone: null, given_name: null, family_name: null, birthdate: null, country: null, address: null, preferences: {}, last_login_at: null });
    expect(await hub.services.db.selectFrom('payment_methods').select('id').where('user_id', '=', alice.id).execute()).toEqual([]);
    const kept = await sql<{ text: string }>`
      select row_to_json(e)::text as text from audit_events e where subject_user_id = ${alice.id}
      union all select row_to_json(c)::text from consent_events c where user_id = ${alice.id}
      union all select row_to_json(c)::text from consents c where user_id = ${alice.id}
      union all select row_to_json(o)::text from orders o where user_id = ${alice.id}
      union all select row_to_json(u)::text from users u where id = ${alice.id}
      union all select row_to_json(a)::text from agents a where owner_user_id = ${alice.id}
      union all select row_to_json(a)::text from approvals a where user_id = ${alice.id}`.execute(hub.services.db);
    expect(kept.rows.length).toBeGreaterThan(10);
    for (const personal of [alice.email, 'Alice', 'Erasmus', '5551234', 'Laugavegur', '1990-04-01', 'hiking']) {
      expect(kept.rows.filter((row) => row.text.includes(personal))).toEqual([]);
    }
    expect(kept.rows.filter((row) => /"last4":\s*"7319"/.test(row.text))).toEqual([]);
  });

  it('blanks what the profile held besides what the person typed in: locale, loyalty tier and points, a verified email, the entry key', async () => {
    const user = await hub.services.db.selectFrom('users').select(['locale', 'loyalty_tier', 'loyalty_points', 'email_verified', 'entry_hmac_key']).where('id', '=', alice.id).executeTakeFirstOrThrow();
    expect(user).toEqual({ locale: null, loyalty_tier: null, loyalty_points: 0, email_verified: false, entry_hmac_key: null });
  });

  it('keeps every hash chain of the audit trail whole', async () => {
    expect(await verifyAuditChains(hub.services.db)).toMatchObject({ broken: undefined });
  });

  it.runIf(Boolean(process.env.TEST_DATABASE_URL))('passes `hub audit verify` run against the same database', () => {
    const run = spawnSync(process.execPath, hubArgs('audit', 'verify'), {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', DATABASE_URL: database.url! },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stdout).toMatch(/^ok: \d+ chains, \d+ events\n$/);
    expect(run.status).toBe(0);
  });

  it('records the erasure in the audit trail', async () => {
    const page = await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'user.erased' } });
    expect(page.edges.map((e) => e.node)).toEqual([
      expect.objectContaining({
        actor: { kind: 'user', id: alice.id },
        subjectUserId: alice.id,
        decision: 'ALLOW',
        detail: { consentsWithdrawn: 3, agentsDecommissioned: 1, refreshesRevoked: 3, paymentMethodsDeleted: 1, audienceMembershipsRemoved: 1, approvalsDeleted: 2 },
      }),
    ]);
  });

  it('lets the same email sign up again as a new person', async () => {
    const again = await signUpUser(hub, { email: alice.email.toUpperCase() });
    expect(again.id).not.toBe(alice.id);
    expect((await signIn(alice.email)).data.signIn.user.id).toBe(again.id);
  });

  it('is idempotent: erasing again changes nothing and says so', async () => {
    const response = await graphql<any>(hub, ERASE, { token: admin, variables: { id: alice.id } });
    expect(response.data.eraseUser).toEqual({ ...erasure, alreadyErased: true, consentsWithdrawn: 0, agentsDecommissioned: 0, refreshTokensRevoked: 0, paymentMethodsDeleted: 0, approvalsDeleted: 0, audienceMembershipsRemoved: 0 });
    const page = await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'user.erased' } });
    expect(page.edges).toHaveLength(1);
  });
});

describe('the audiences an erasure reports', () => {
  it('counts only those the person was a member of: not one whose consent had expired', async () => {
    const bob = await signUpUser(hub, { country: 'PT' });
    await giveConsent(hub, bob.accessToken, { purpose: 'email_marketing', expiresAt: new Date(clock.now().getTime() + 60_000).toISOString() });
    await giveConsent(hub, bob.accessToken, { purpose: 'loyalty_offers' });
    clock.advance(120);
    const response = await graphql<any>(hub, ERASE, { token: admin, variables: { id: bob.id } });
    expect(response.data.eraseUser.audienceMembershipsRemoved).toBe(1);
  });
});

describe('the refresh tokens an erasure reports', () => {
  it('counts each session still usable once, however often it was refreshed, and none already expired', async () => {
    const carol = await signUpUser(hub);
    clock.advance(29 * 86_400);
    const second = await signInUser(hub, carol);
    const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: second.refreshToken, client_id: 'hub-frontend' });
    expect(refreshed.status).toBe(200);
    clock.advance(2 * 86_400);
    const response = await graphql<any>(hub, ERASE, { token: await operatorToken(hub), variables: { id: carol.id } });
    expect(response.data.eraseUser.refreshTokensRevoked).toBe(1);
  });
});
