import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { enqueueWebhookEvent, WEBHOOK_EVENT_TYPES } from '../../src/webhooks/webhook-outbox.js';
import type { DeliveryWorker } from '../../src/webhooks/delivery-worker.js';
import { graphql, postForm, signIn, signUpUser, TEST_PASSWORD } from '../helpers/hub.js';
import { basic, claimsOf, clientCredentialsToken, exchange, giveConsent, registerAgent } from '../helpers/oauth.js';
import { startReceiver, type Receiver } from './receiver.js';
import { adminToken, startWebhookHub, subscribe, type TestClock } from './webhook-hub.js';

describe('webhook events', () => {
  let hub: Hub;
  let clock: TestClock;
  let admin: string;
  let worker: DeliveryWorker;
  let everything: Receiver;
  let revocations: Receiver;
  const secrets: Record<string, string> = {};
  beforeAll(async () => {
    ({ hub, clock } = await startWebhookHub());
    admin = await adminToken(hub);
    everything = await startReceiver({ secrets: () => ({ all: secrets.all! }), at: () => clock.now() });
    revocations = await startReceiver({ secrets: () => ({ revoked: secrets.revoked! }), at: () => clock.now() });
    secrets.all = (await subscribe(hub, admin, everything.url, [...WEBHOOK_EVENT_TYPES])).secret;
    secrets.revoked = (await subscribe(hub, admin, revocations.url, ['token.revoked'])).secret;
    worker = hub.services.webhooks.createWorker();
  });
  afterAll(async () => {
    await worker.stop();
    await Promise.all([everything.close(), revocations.close()]);
    await hub.close();
  });

  const countMessages = async () => Number((await sql<{ n: number }>`select count(*)::int as n from webhook_messages`.execute(hub.services.db)).rows[0]!.n);
  const byId = (receiver: Receiver) => [...receiver.requests].sort((a, b) => a.id.localeCompare(b.id));

  it('sends signed events for consents, agents and revoked tokens, each verified by the receiver, with ids and no personal data', async () => {
    const user = await signUpUser(hub, { givenName: 'Zerlina', familyName: 'Quist' });
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read', 'offline_access'] });
    const expiresAt = new Date(clock.now().getTime() + 90 * 86_400_000).toISOString();
    const consentId = await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'], expiresAt });
    expect((await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { id } }', { token: admin, variables: { id: agent.id } })).errors).toBeUndefined();
    expect((await graphql(hub, 'mutation($id: ID!) { reactivateAgent(id: $id) { id } }', { token: admin, variables: { id: agent.id } })).errors).toBeUndefined();
    const own = await clientCredentialsToken(hub, agent);
    expect((await postForm(hub, '/oauth/revoke', { token: own }, basic(agent))).status).toBe(200);
    const delegated = (await exchange(hub, agent, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' })).body;
    expect((await postForm(hub, '/oauth/revoke', { token: delegated.refresh_token }, basic(agent))).status).toBe(200);
    expect((await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: user.accessToken, variables: { id: consentId } })).errors).toBeUndefined();
    const second = await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    expect((await graphql(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { id } }', { token: admin, variables: { id: agent.id } })).errors).toBeUndefined();

    expect(everything.requests).toEqual([]);
    expect(await worker.deliverDue()).toBe(12);
    const received = byId(everything);
    expect(received.map((r) => r.payload.type)).toEqual([
      'agent.registered',
      'consent.given',
      'agent.suspended',
      'agent.reactivated',
      'token.revoked',
      'token.revoked',
      'consent.withdrawn',
      'consent.given',
      'consent.withdrawn',
      'agent.decommissioned',
    ]);
    expect(received.every((r) => r.verifiedBy.includes('all') && /^msg_[0-9A-Z]{26}$/.test(r.id))).toBe(true);
    expect(received.every((r) => r.headers['content-type'] === 'application/json' && r.payload.timestamp === clock.now().toISOString())).toBe(true);
    const data = received.map((r) => r.payload.data);
    expect(data[0]).toEqual({ agentId: agent.id, kind: 'AI_AGENT', ownerUserId: null, parentAgentId: null });
    expect(data[1]).toEqual({ consentId, userId: user.id, purpose: 'support', agentId: agent.id, scopes: ['orders:read'], expiresAt });
    expect(data[7]).toEqual({ consentId: second, userId: user.id, purpose: 'support', agentId: agent.id, scopes: ['orders:read'], expiresAt: null });
    expect(data[2]).toEqual({ agentId: agent.id, ownerUserId: null });
    expect(data[4]).toMatchObject({ tokenType: 'access_token', reason: 'revoked', clientId: agent.id, userId: null, tokenId: expect.any(String) });
    expect(data[5]).toMatchObject({ tokenType: 'refresh_token', reason: 'revoked', clientId: agent.id, userId: user.id, consentId, tokenId: expect.stringMatching(/^rt_/) });
    expect(data[6]).toEqual({ consentId, userId: user.id, purpose: 'support', agentId: agent.id });
    expect(data[8]).toEqual({ consentId: second, userId: user.id, purpose: 'support', agentId: agent.id });
    expect(data[9]).toEqual({ agentId: agent.id, ownerUserId: null });
    const bodies = received.map((r) => r.body).join('\n');
    for (const personal of [user.email, 'Zerlina', 'Quist', own, delegated.refresh_token]) expect(bodies).not.toContain(personal);

    expect(byId(revocations).map((r) => [r.payload.type, r.payload.data.tokenType])).toEqual([
      ['token.revoked', 'access_token'],
      ['token.revoked', 'refresh_token'],
    ]);
    expect(revocations.requests.every((r) => r.verifiedBy.includes('revoked'))).toBe(true);
    expect(await worker.deliverDue()).toBe(0);
  });

  it('announces a refresh token family revoked because a used token came back, once, for sessions and delegated access alike', async () => {
    const user = await signUpUser(hub);
    const refresh = (token: string, client?: Parameters<typeof basic>[0]) =>
      postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: token, ...(!client && { client_id: 'hub-frontend' }) }, client ? basic(client) : {});
    expect((await refresh(user.refreshToken)).status).toBe(200);
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read', 'offline_access'] });
    await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const delegated = (await exchange(hub, agent, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' })).body;
    expect((await refresh(delegated.refresh_token, agent)).status).toBe(200);
    await worker.deliverDue();
    const seen = revocations.requests.length;

    for (let i = 0; i < 2; i++) {
      expect((await refresh(user.refreshToken)).body).toMatchObject({ error: 'invalid_grant' });
      expect((await refresh(delegated.refresh_token, agent)).body).toMatchObject({ error: 'invalid_grant' });
    }
    expect(await worker.deliverDue()).toBe(4);
    const announced = byId(revocations).slice(seen).map((r) => r.payload.data);
    expect(announced).toEqual([
      { tokenType: 'refresh_token', reason: 'reused', tokenId: expect.stringMatching(/^rt_/), familyId: expect.any(String), clientId: 'hub-frontend', userId: user.id, consentId: null },
      { tokenType: 'refresh_token', reason: 'reused', tokenId: expect.stringMatching(/^rt_/), familyId: expect.any(String), clientId: agent.id, userId: user.id, consentId: expect.any(String) },
    ]);
  });

  it('announces and audits a revoked access token once, however often it is revoked again', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const own = await clientCredentialsToken(hub, agent);
    const user = await signUpUser(hub);
    for (let i = 0; i < 3; i++) {
      expect((await postForm(hub, '/oauth/revoke', { token: own }, basic(agent))).status).toBe(200);
      expect((await postForm(hub, '/oauth/revoke', { token: user.accessToken, client_id: 'hub-frontend' })).status).toBe(200);
    }

    await worker.deliverDue();
    for (const jti of [claimsOf(own).jti, claimsOf(user.accessToken).jti]) {
      expect(revocations.requests.filter((r) => r.payload.data.tokenId === jti)).toHaveLength(1);
      const audited = await hub.services.db.selectFrom('audit_events').select('decision').where('action', '=', 'token.revoked').where(sql<boolean>`detail->>'jti' = ${jti}`).execute();
      expect(audited).toEqual([{ decision: 'allow' }]);
    }
  });

  it('sends user.erased, with the consents the erasure withdrew, and refuses an unknown type as misuse', async () => {
    const user = await signUpUser(hub, { givenName: 'Oda', familyName: 'Wren' });
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    await worker.deliverDue();
    const before = everything.requests.length;
    const erased = await graphql<any>(hub, 'mutation($id: ID!) { eraseUser(id: $id) { userId } }', { token: user.accessToken, variables: { id: user.id } });
    expect(erased.data.eraseUser.userId).toBe(user.id);

    expect(await worker.deliverDue()).toBe(2);
    const sent = byId(everything).filter((r) => everything.requests.indexOf(r) >= before);
    expect(sent.map((r) => [r.payload.type, r.payload.data])).toEqual([
      ['consent.withdrawn', { consentId, userId: user.id, purpose: 'email_marketing', agentId: null }],
      ['user.erased', { userId: user.id }],
    ]);
    expect(sent.every((r) => r.verifiedBy.includes('all'))).toBe(true);
    await expect(enqueueWebhookEvent(hub.services.db, { type: 'user.renamed' as never, data: {} }, clock.now())).rejects.toBeInstanceOf(TypeError);
  });

  it('sends user.suspended and user.reactivated once per change of status, never for a status the user already has', async () => {
    const user = await signUpUser(hub);
    await worker.deliverDue();
    const before = everything.requests.length;
    const setStatus = (mutation: 'suspendUser' | 'reactivateUser') => graphql<any>(hub, `mutation($id: ID!) { ${mutation}(id: $id) { status } }`, { token: admin, variables: { id: user.id } });
    for (const mutation of ['suspendUser', 'suspendUser', 'reactivateUser', 'reactivateUser'] as const) expect((await setStatus(mutation)).errors).toBeUndefined();

    expect(await worker.deliverDue()).toBe(2);
    const sent = byId(everything).filter((r) => everything.requests.indexOf(r) >= before);
    expect(sent.map((r) => [r.payload.type, r.payload.data])).toEqual([
      ['user.suspended', { userId: user.id }],
      ['user.reactivated', { userId: user.id }],
    ]);
  });

  it('sends user.password_changed with how many sessions the change ended, and nothing for a refused change', async () => {
    const user = await signUpUser(hub);
    await worker.deliverDue();
    const before = everything.requests.length;
    const change = (currentPassword: string) =>
      graphql<any>(hub, 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }', {
        token: user.accessToken,
        variables: { input: { currentPassword, newPassword: 'a quite different passphrase 7' } },
      });
    expect((await change('not the password')).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await change(TEST_PASSWORD)).errors).toBeUndefined();

    expect(await worker.deliverDue()).toBe(1);
    const sent = byId(everything).filter((r) => everything.requests.indexOf(r) >= before);
    expect(sent.map((r) => [r.payload.type, r.payload.data])).toEqual([['user.password_changed', { userId: user.id, sessionsEnded: 1 }]]);
  });

  it('sends nothing for a change whose transaction rolled back', async () => {
    const user = await signUpUser(hub);
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const consentId = await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    await worker.deliverDue();
    const [messagesBefore, requestsBefore] = [await countMessages(), everything.requests.length];

    const caller = { principal: ANONYMOUS, requestId: null };
    await expect(
      hub.services.db.transaction().execute(async (tx) => {
        expect(await hub.services.consents.withdrawAllForAgent(tx, agent.id, caller, clock.now())).toBe(1);
        expect(Number((await sql<{ n: number }>`select count(*)::int as n from webhook_messages`.execute(tx)).rows[0]!.n)).toBe(messagesBefore + 1);
        throw new Error('the change fails after its event was written');
      }),
    ).rejects.toThrow('the change fails');

    expect(await countMessages()).toBe(messagesBefore);
    expect(await worker.deliverDue()).toBe(0);
    expect(everything.requests.length).toBe(requestsBefore);
    const consent = await graphql<{ consent: { status: string } }>(hub, 'query($id: ID!) { consent(id: $id) { status } }', { token: user.accessToken, variables: { id: consentId } });
    expect(consent.data!.consent.status).toBe('ACTIVE');
  });

  it('writes no message for an event no enabled subscription asks for', async () => {
    const { id } = await subscribe(hub, admin, everything.url, ['user.erased']);
    await graphql(hub, 'mutation($id: ID!) { disableWebhookSubscription(id: $id) { id } }', { token: admin, variables: { id } });
    await graphql(hub, 'mutation { updateWebhookSubscription(id: "' + id + '", input: { eventTypes: ["agent.registered"] }) { id } }', { token: admin });
    const all = await graphql<{ webhookSubscriptions: { edges: { node: { id: string } }[] } }>(hub, '{ webhookSubscriptions { edges { node { id } } } }', { token: admin });
    for (const { node } of all.data!.webhookSubscriptions.edges) {
      if (node.id !== id) await graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id: node.id } });
    }
    const before = await countMessages();
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    expect(await countMessages()).toBe(before);
  });

  it('puts a batch of events of mixed types in the outbox at once, each delivered to exactly the subscriptions that ask for its type', async () => {
    const both = await subscribe(hub, admin, everything.url, ['agent.suspended', 'consent.withdrawn']);
    const withdrawals = await subscribe(hub, admin, everything.url, ['consent.withdrawn']);
    const before = await countMessages();
    await enqueueWebhookEvent(
      hub.services.db,
      [
        ...Array.from({ length: 2 }, (_, i) => ({ type: 'agent.suspended' as const, data: { agentId: `agt_${i}`, ownerUserId: null } })),
        ...Array.from({ length: 3 }, (_, i) => ({ type: 'consent.withdrawn' as const, data: { consentId: `cns_${i}`, userId: 'usr_x', purpose: 'support', agentId: null } })),
        { type: 'user.erased', data: { userId: 'usr_x' } },
      ],
      clock.now(),
    );
    expect(await countMessages()).toBe(before + 5);
    const { rows } = await sql<{ event_type: string; subscribers: string[] }>`
      select m.event_type, array_agg(d.subscription_id order by d.subscription_id) as subscribers
      from webhook_messages m join webhook_deliveries d on d.message_id = m.id
      where d.subscription_id in (${both.id}, ${withdrawals.id})
      group by m.id, m.event_type order by m.id`.execute(hub.services.db);
    const pair = [both.id, withdrawals.id].sort();
    expect(rows).toEqual([
      { event_type: 'agent.suspended', subscribers: [both.id] },
      { event_type: 'agent.suspended', subscribers: [both.id] },
      ...Array.from({ length: 3 }, () => ({ event_type: 'consent.withdrawn', subscribers: pair })),
    ]);
  });
});
