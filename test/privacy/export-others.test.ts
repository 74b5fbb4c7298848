import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';
import { exportOf, paymentApprovals } from './privacy-fixtures.js';

// A person's export lists what they did about others (`actions`) without what is those others',
// and a withdrawal that follows from someone else's decommissioning never names them. Its other
// lists hold the person's own alone: their cards, their agents, the agents and approvals of their
// consents, never another person's.

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

describe('the export of an agent’s owner, and of a person who consented to it', () => {
  let alice: Awaited<ReturnType<typeof signUpUser>>;
  let bob: Awaited<ReturnType<typeof signUpUser>>;
  let agentId: string;
  let bobConsent: string;

  beforeAll(async () => {
    alice = await signUpUser(hub);
    bob = await signUpUser(hub);
    agentId = (await registerAgent(hub, alice.accessToken, { name: 'Alice’s helper', allowedScopes: ['orders:read'] })).id;
    bobConsent = await giveConsent(hub, bob.accessToken, { purpose: 'support', agentId, scopes: ['orders:read'] });
    // Alice tries to read Bob's profile, which is refused and audited as hers.
    const read = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { email } }', { token: alice.accessToken, variables: { id: bob.id } });
    expect(read.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const decommissioned = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', {
      token: alice.accessToken,
      variables: { id: agentId },
      headers: { 'x-request-id': 'alice-decommissions' },
    });
    expect(decommissioned.data.decommissionAgent.status).toBe('DECOMMISSIONED');
    await hub.services.audit.flush();
  });

  it('shows her refused read of another person, not whose nor what', async () => {
    const { status, body } = await exportOf(hub, alice.id, alice.accessToken);
    expect(status).toBe(200);
    expect(body.actions).toEqual([
      expect.objectContaining({ action: 'profile.read', actor: { kind: 'user', id: alice.id }, decision: 'DENY', subjectUserId: null, consentId: null, purpose: null, fieldsRead: [], fieldsDenied: [], detail: {} }),
    ]);
    const document = JSON.stringify(body);
    expect(document).not.toContain(bob.id);
    expect(document).not.toContain(bobConsent);
    // Her decommissioning is in her access log, naming her agent; the withdrawals it caused are not hers.
    expect(body.accessLog).toContainEqual(expect.objectContaining({ action: 'agent.decommissioned', requestId: 'alice-decommissions', detail: expect.objectContaining({ agentId }) }));
  });

  it('shows the person who consented the withdrawal as the hub’s, naming no owner', async () => {
    const { body } = await exportOf(hub, bob.id, bob.accessToken);
    expect(body.accessLog).toContainEqual(
      expect.objectContaining({ action: 'consent.withdrawn', actor: { kind: 'system', id: null }, subjectUserId: bob.id, consentId: bobConsent, purpose: 'support', detail: { reason: 'agent decommissioned' } }),
    );
    // Alice shows in his log only where she acted on his data herself: her refused read.
    expect(body.accessLog.filter((e: any) => JSON.stringify(e).includes(alice.id)).map((e: any) => e.action)).toEqual(['profile.read']);
  });
});

describe('the export of a person an agent acting for someone else tried to read', () => {
  it('names the agent, not the consent it acted under nor its purpose: they are the other person’s', async () => {
    const carol = await signUpUser(hub);
    const dave = await signUpUser(hub);
    const agent = await registerAgent(hub, await operatorToken(hub), { name: 'Support assistant', allowedScopes: ['contact:read'] });
    const carolConsent = await giveConsent(hub, carol.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['contact:read'] });
    const exchanged = await exchange(hub, agent, (await signIn(hub, carol)).accessToken, { scope: 'contact:read' });
    expect(exchanged.status).toBe(200);
    const read = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { email } }', { token: exchanged.body.access_token, variables: { id: dave.id } });
    expect(read.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    await hub.services.audit.flush();

    const { status, body } = await exportOf(hub, dave.id, dave.accessToken);
    expect(status).toBe(200);
    expect(body.accessLog).toContainEqual(
      expect.objectContaining({ action: 'profile.read', actor: { kind: 'delegated', id: agent.id }, decision: 'DENY', reason: 'NOT_SUBJECT', consentId: null, purpose: null }),
    );
    expect(JSON.stringify(body)).not.toContain(carolConsent);
    // Carol's own trail keeps her consent on what the agent did for her.
    const own = await exportOf(hub, carol.id, carol.accessToken);
    expect(own.body.accessLog).toContainEqual(expect.objectContaining({ action: 'token.exchanged', consentId: carolConsent }));
  });

  it('lists among connectedAgents only agents the person consented to, not one another person did', async () => {
    const erin = await signUpUser(hub);
    const frank = await signUpUser(hub);
    const agent = await registerAgent(hub, await operatorToken(hub), { name: 'Order assistant', allowedScopes: ['orders:read'] });
    await giveConsent(hub, erin.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });

    expect((await exportOf(hub, frank.id, frank.accessToken)).body.connectedAgents).toEqual([]);
    expect((await exportOf(hub, erin.id, erin.accessToken)).body.connectedAgents).toEqual([expect.objectContaining({ id: agent.id })]);
  });

  it('lists among approvals only those the person was asked for, not another person’s', async () => {
    const grace = await signUpUser(hub);
    const heidi = await signUpUser(hub);
    const shopper = await registerAgent(hub, await operatorToken(hub), { name: 'Shopping assistant', allowedScopes: ['payment:read', 'payment:write'] });
    const asked = await paymentApprovals(hub, shopper, grace.accessToken);

    expect((await exportOf(hub, heidi.id, heidi.accessToken)).body.approvals).toEqual([]);
    expect((await exportOf(hub, grace.id, grace.accessToken)).body.approvals.map((approval: { id: string }) => approval.id).sort()).toEqual([...asked].sort());
  });
});

describe('the cards and agents of a person, in their export', () => {
  it('lists among paymentMethods only the person’s own cards, not another person’s', async () => {
    const ivan = await signUpUser(hub);
    const judy = await signUpUser(hub);
    await hub.services.db.insertInto('payment_methods').values({ id: `pm_${ivan.id}`, user_id: ivan.id, brand: 'visa', last4: '4242', exp_month: 4, exp_year: 2033 }).execute();

    expect((await exportOf(hub, judy.id, judy.accessToken)).body.paymentMethods).toEqual([]);
    expect((await exportOf(hub, ivan.id, ivan.accessToken)).body.paymentMethods).toEqual([expect.objectContaining({ id: `pm_${ivan.id}`, last4: '4242' })]);
  });

  it('lists as ownedAgents the agents the person registered, not one they only consented to nor another person’s', async () => {
    const kate = await signUpUser(hub);
    const liam = await signUpUser(hub);
    const kates = await registerAgent(hub, kate.accessToken, { name: 'Kate’s helper', description: 'Finds my orders', allowedScopes: ['orders:read'] });
    await registerAgent(hub, liam.accessToken, { name: 'Liam’s helper', allowedScopes: ['orders:read'] });
    await giveConsent(hub, liam.accessToken, { purpose: 'support', agentId: kates.id, scopes: ['orders:read'] });

    expect((await exportOf(hub, kate.id, kate.accessToken)).body.ownedAgents).toEqual([expect.objectContaining({ id: kates.id, name: 'Kate’s helper', description: 'Finds my orders', status: 'ACTIVE' })]);
    const liams = (await exportOf(hub, liam.id, liam.accessToken)).body;
    expect(liams.ownedAgents.map((agent: { name: string }) => agent.name)).toEqual(['Liam’s helper']);
    expect(liams.connectedAgents.map((agent: { id: string }) => agent.id)).toEqual([kates.id]);
    // An agent he connected is shown to him without its owner, as the API shows `Agent.owner` to its owner alone.
    expect(JSON.stringify(liams)).not.toContain(kate.id);
  });

  it('shows an owned agent’s status as the API does: EXPIRED from the instant of its expiry, suspended or not', async () => {
    const mona = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 3_600_000).toISOString();
    const active = await registerAgent(hub, mona.accessToken, { name: 'Active until now', allowedScopes: ['orders:read'], expiresAt });
    const suspended = await registerAgent(hub, mona.accessToken, { name: 'Suspended until now', allowedScopes: ['orders:read'], expiresAt });
    const suspension = await graphql<any>(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: mona.accessToken, variables: { id: suspended.id } });
    expect(suspension.data.suspendAgent.status).toBe('SUSPENDED');
    // Both reach their expiry at this very instant.
    await hub.services.db.updateTable('agents').set({ expires_at: clock.now() }).where('id', 'in', [active.id, suspended.id]).execute();

    const api = await graphql<any>(hub, 'query($a: ID!, $s: ID!) { a: agent(id: $a) { status } s: agent(id: $s) { status } }', { token: mona.accessToken, variables: { a: active.id, s: suspended.id } });
    expect(api.data).toEqual({ a: { status: 'EXPIRED' }, s: { status: 'EXPIRED' } });
    const { body } = await exportOf(hub, mona.id, mona.accessToken);
    expect(Object.fromEntries(body.ownedAgents.map((agent: { id: string; status: string }) => [agent.id, agent.status]))).toEqual({ [active.id]: 'EXPIRED', [suspended.id]: 'EXPIRED' });
  });
});
