import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signIn, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { startWebhookHub, subscribe, type TestClock } from '../webhooks/webhook-hub.js';

// A sub-agent lives only as long as every ancestor: decommissioning an agent ends its whole
// lineage below it, consents and all, and no consent can be given to an agent whose lineage is
// not active.

let hub: Hub;
let clock: TestClock;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  ({ hub, clock } = await startWebhookHub());
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  bob = await signUpUser(hub);
  await subscribe(hub, admin, 'http://127.0.0.1:8/hook', ['agent.decommissioned', 'consent.withdrawn']);
});
afterAll(() => hub.close());

const SCOPES = ['orders:read', 'offline_access'];
const GIVE = 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id status } }';
const give = (token: string, agentId: string) => graphql<any>(hub, GIVE, { token, variables: { input: { purpose: 'support', agentId, scopes: ['orders:read'] } } });
const mutate = (name: string, id: string) => graphql<any>(hub, `mutation($id: ID!) { ${name}(id: $id) { status } }`, { token: admin, variables: { id } });
const agentStatus = async (id: string) => (await graphql<any>(hub, 'query($id: ID!) { agent(id: $id) { status } }', { token: admin, variables: { id } })).data.agent.status;
const consentOf = async (token: string, id: string) =>
  (await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { status withdrawnAt } }', { token, variables: { id } })).data.consent;
const decommissionAudits = (agentId: string) =>
  hub.services.db
    .selectFrom('audit_events')
    .select('detail')
    .where('action', '=', 'agent.decommissioned')
    .where(sql<boolean>`detail->>'agentId' = ${agentId}`)
    .execute();
/** The data of every webhook message of this type written to the outbox. */
const webhookData = async (type: string): Promise<Record<string, string>[]> => {
  const { rows } = await sql<{ body: string }>`select body from webhook_messages where event_type = ${type}`.execute(hub.services.db);
  return rows.map((row) => JSON.parse(row.body).data);
};

/** parent ← child ← grandchild, and a sibling tree of its own. */
async function lineage() {
  const parent = await registerAgent(hub, admin, { name: 'Parent', allowedScopes: SCOPES });
  const child = await registerAgent(hub, admin, { name: 'Child', allowedScopes: SCOPES, parentAgentId: parent.id });
  const grandchild = await registerAgent(hub, admin, { name: 'Grandchild', allowedScopes: SCOPES, parentAgentId: child.id });
  const stranger = await registerAgent(hub, admin, { name: 'Stranger', allowedScopes: SCOPES });
  return { parent, child, grandchild, stranger };
}

describe('decommissioning an agent with sub-agents', () => {
  let agents: Awaited<ReturnType<typeof lineage>>;
  const consents = {} as Record<'aliceChild' | 'bobChild' | 'aliceGrandchild' | 'aliceParent' | 'aliceStranger', string>;
  let childRefreshToken: string;
  beforeAll(async () => {
    agents = await lineage();
    consents.aliceParent = await giveConsent(hub, alice.accessToken, { agentId: agents.parent.id, scopes: ['orders:read'] });
    consents.aliceChild = await giveConsent(hub, alice.accessToken, { agentId: agents.child.id, scopes: ['orders:read'] });
    consents.bobChild = await giveConsent(hub, bob.accessToken, { agentId: agents.child.id, scopes: ['orders:read'] });
    consents.aliceGrandchild = await giveConsent(hub, alice.accessToken, { agentId: agents.grandchild.id, scopes: ['orders:read'] });
    consents.aliceStranger = await giveConsent(hub, alice.accessToken, { agentId: agents.stranger.id, scopes: ['orders:read'] });
    const session = await exchange(hub, agents.child, (await signIn(hub, alice)).accessToken, { scope: 'orders:read offline_access' });
    expect(session.status).toBe(200);
    childRefreshToken = session.body.refresh_token;
    clock.advance(5);
    expect((await mutate('decommissionAgent', agents.parent.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
  });

  it('decommissions every descendant with it, and nothing outside its lineage', async () => {
    expect(await agentStatus(agents.child.id)).toBe('DECOMMISSIONED');
    expect(await agentStatus(agents.grandchild.id)).toBe('DECOMMISSIONED');
    expect(await agentStatus(agents.stranger.id)).toBe('ACTIVE');
  });

  it('withdraws every consent naming the agent or a descendant, whoever gave it', async () => {
    const withdrawn = { status: 'WITHDRAWN', withdrawnAt: clock.now().toISOString() };
    expect(await consentOf(alice.accessToken, consents.aliceParent)).toEqual(withdrawn);
    expect(await consentOf(alice.accessToken, consents.aliceChild)).toEqual(withdrawn);
    expect(await consentOf(bob.accessToken, consents.bobChild)).toEqual(withdrawn);
    expect(await consentOf(alice.accessToken, consents.aliceGrandchild)).toEqual(withdrawn);
    expect(await consentOf(alice.accessToken, consents.aliceStranger)).toEqual({ status: 'ACTIVE', withdrawnAt: null });
  });

  it('records each withdrawal in the ledger and the audit trail, and announces it', async () => {
    const ids = [consents.aliceChild, consents.bobChild, consents.aliceGrandchild];
    const events = await hub.services.db.selectFrom('consent_events').select(['consent_id', 'detail']).where('kind', '=', 'withdrawn').where('consent_id', 'in', ids).execute();
    expect(events.map((e) => e.consent_id).sort()).toEqual([...ids].sort());
    expect(events.every((e) => (e.detail as { reason?: string }).reason === 'agent decommissioned')).toBe(true);
    const audited = await hub.services.db.selectFrom('audit_events').select('consent_id').where('action', '=', 'consent.withdrawn').where('consent_id', 'in', ids).execute();
    expect(audited.map((a) => a.consent_id).sort()).toEqual([...ids].sort());
    const announced = (await webhookData('consent.withdrawn')).map((data) => data.consentId);
    expect(announced).toEqual(expect.arrayContaining(ids));
  });

  it('audits and announces each descendant’s decommissioning, naming the ancestor it went with', async () => {
    expect((await decommissionAudits(agents.parent.id)).map((a) => a.detail)).toEqual([{ agentId: agents.parent.id, consentsWithdrawn: 1 }]);
    expect((await decommissionAudits(agents.child.id)).map((a) => a.detail)).toEqual([{ agentId: agents.child.id, consentsWithdrawn: 2, ancestorDecommissioned: agents.parent.id }]);
    expect((await decommissionAudits(agents.grandchild.id)).map((a) => a.detail)).toEqual([{ agentId: agents.grandchild.id, consentsWithdrawn: 1, ancestorDecommissioned: agents.child.id }]);
    const announced = (await webhookData('agent.decommissioned')).map((data) => data.agentId);
    expect(announced).toEqual(expect.arrayContaining([agents.parent.id, agents.child.id, agents.grandchild.id]));
    expect(announced).not.toContain(agents.stranger.id);
  });

  it('revokes the refresh tokens the descendants hold', async () => {
    const row = await hub.services.db.selectFrom('refresh_tokens').select('revoked_at').where('client_id', '=', agents.child.id).executeTakeFirstOrThrow();
    expect(row.revoked_at).toEqual(clock.now());
    expect(childRefreshToken).toBeTruthy();
  });

  it('refuses a new consent to a descendant', async () => {
    const refused = await give(alice.accessToken, agents.child.id);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]).toMatchObject({ message: 'input.agentId: is not an active agent', extensions: { code: 'BAD_USER_INPUT', field: 'input.agentId' } });
  });

  it('finishes, when asked again, the descendants an earlier decommissioning left active', async () => {
    // What the hub did before descendants went with their ancestor: only the agent itself ended.
    const earlier = await lineage();
    const consentId = await giveConsent(hub, alice.accessToken, { agentId: earlier.child.id, scopes: ['orders:read'] });
    await hub.services.db.updateTable('agents').set({ status: 'decommissioned' }).where('id', '=', earlier.parent.id).execute();
    expect((await mutate('decommissionAgent', earlier.parent.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect(await agentStatus(earlier.child.id)).toBe('DECOMMISSIONED');
    expect(await agentStatus(earlier.grandchild.id)).toBe('DECOMMISSIONED');
    expect((await consentOf(alice.accessToken, consentId)).status).toBe('WITHDRAWN');
    expect(await decommissionAudits(earlier.parent.id)).toEqual([]);
  });
});

describe('decommissioning a sub-agent alone', () => {
  it('revokes the refresh tokens it holds under its parent’s consent, which stays in force with the parent’s own', async () => {
    const { parent, child } = await lineage();
    const consentId = await giveConsent(hub, alice.accessToken, { agentId: parent.id, scopes: ['orders:read'] });
    const parentSession = await exchange(hub, parent, (await signIn(hub, alice)).accessToken, { scope: 'orders:read offline_access' });
    const childSession = await exchange(hub, child, parentSession.body.access_token, { scope: 'orders:read offline_access' });
    expect(childSession.body.refresh_token).toBeTruthy();
    clock.advance(5);
    expect((await mutate('decommissionAgent', child.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    const revokedAt = async (clientId: string) =>
      (await hub.services.db.selectFrom('refresh_tokens').select('revoked_at').where('client_id', '=', clientId).execute()).map((row) => row.revoked_at);
    expect(await revokedAt(child.id)).toEqual([clock.now()]);
    expect(await revokedAt(parent.id)).toEqual([null]);
    expect((await consentOf(alice.accessToken, consentId)).status).toBe('ACTIVE');
  });

  it('is decommissioned once: its ancestor’s later decommissioning neither audits nor announces it again', async () => {
    const { parent, child, grandchild } = await lineage();
    expect((await mutate('decommissionAgent', child.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect((await mutate('decommissionAgent', parent.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect((await decommissionAudits(child.id)).map((a) => a.detail)).toEqual([{ agentId: child.id, consentsWithdrawn: 0 }]);
    expect((await decommissionAudits(grandchild.id)).map((a) => a.detail)).toEqual([{ agentId: grandchild.id, consentsWithdrawn: 0, ancestorDecommissioned: child.id }]);
    const announced = (await webhookData('agent.decommissioned')).map((data) => data.agentId);
    for (const id of [child.id, grandchild.id]) expect(announced.filter((announcedId) => announcedId === id)).toEqual([id]);
  });
});

describe('giving a consent to a sub-agent', () => {
  it('is refused while an ancestor is suspended, and allowed again once it is reactivated', async () => {
    const { parent, grandchild } = await lineage();
    expect((await mutate('suspendAgent', parent.id)).data.suspendAgent.status).toBe('SUSPENDED');
    const refused = await give(alice.accessToken, grandchild.id);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.agentId' });
    expect(await hub.services.db.selectFrom('consents').select('id').where('agent_id', '=', grandchild.id).execute()).toEqual([]);

    expect((await mutate('reactivateAgent', parent.id)).data.reactivateAgent.status).toBe('ACTIVE');
    const given = await give(alice.accessToken, grandchild.id);
    expect(given.errors).toBeUndefined();
    expect(given.data.giveConsent.status).toBe('ACTIVE');
  });

  it('is refused once an ancestor is past its expiry', async () => {
    const expiresAt = new Date(clock.now().getTime() + 60_000).toISOString();
    const parent = await registerAgent(hub, admin, { name: 'Short-lived parent', allowedScopes: SCOPES, expiresAt });
    const child = await registerAgent(hub, admin, { name: 'Child', allowedScopes: SCOPES, parentAgentId: parent.id, expiresAt });
    clock.advance(61);
    const refused = await give(alice.accessToken, child.id);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.agentId' });
  });
});

describe('erasing the owner of an agent with sub-agents', () => {
  it('decommissions the sub-agents too, and withdraws the consents naming them', async () => {
    const carol = await signUpUser(hub);
    const own: RegisteredAgent = await registerAgent(hub, carol.accessToken, { name: 'Carol’s helper', allowedScopes: ['orders:read'] });
    const sub = await registerAgent(hub, admin, { name: 'Helper’s sub-agent', allowedScopes: ['orders:read'], parentAgentId: own.id });
    const consentId = await giveConsent(hub, bob.accessToken, { agentId: sub.id, scopes: ['orders:read'] });
    const erased = await graphql<any>(hub, 'mutation($id: ID!) { eraseUser(id: $id) { agentsDecommissioned } }', { token: admin, variables: { id: carol.id } });
    expect(erased.errors).toBeUndefined();
    expect(erased.data.eraseUser.agentsDecommissioned).toBe(2);
    expect(await agentStatus(sub.id)).toBe('DECOMMISSIONED');
    expect((await consentOf(bob.accessToken, consentId)).status).toBe('WITHDRAWN');
    expect((await decommissionAudits(sub.id)).map((a) => a.detail)).toEqual([{ agentId: sub.id, consentsWithdrawn: 1, ancestorDecommissioned: own.id }]);
  });
});
