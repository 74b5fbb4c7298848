import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, clientCredentialsToken, exchange, giveConsent, operatorToken, registerAgent, type ClientCredentials, type RegisteredAgent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
});
afterAll(() => hub.close());

const tokenStatus = async (client: ClientCredentials) => (await postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(client))).status;
const me = (token: string) => graphql<any>(hub, '{ me { id } }', { token });
const mutate = (name: string, id: string, extra = '') =>
  graphql<any>(hub, `mutation($id: ID!) { ${name}(id: $id${extra}) { ${name === 'rotateAgentSecret' ? 'clientSecret' : 'status'} } }`, { token: admin, variables: { id } });
const auditedActions = async (agentId: string) => {
  const rows = await hub.database.db.selectFrom('audit_events').select(['action', 'detail']).where('action', 'like', 'agent.%').orderBy('chain_seq').execute();
  return rows.filter((row) => (row.detail as { agentId?: string }).agentId === agentId).map((row) => row.action);
};

/** An agent, a consent from alice, a delegated token and a client-credentials token, all live. */
async function liveAgent(scopes = ['orders:read']) {
  const agent = await registerAgent(hub, admin, { allowedScopes: scopes });
  const consentId = await giveConsent(hub, alice.accessToken, { agentId: agent.id, scopes });
  const delegated = (await exchange(hub, agent, (await signIn(hub, alice)).accessToken)).body.access_token as string;
  const own = await clientCredentialsToken(hub, agent);
  return { agent, consentId, delegated, own };
}

describe('secret rotation', () => {
  it('keeps the old secret for the grace period, then stops it', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const rotated = await graphql<any>(hub, 'mutation($id: ID!) { rotateAgentSecret(id: $id, gracePeriodSeconds: 60) { clientSecret } }', { token: admin, variables: { id: agent.id } });
    const fresh: ClientCredentials = { clientId: agent.id, clientSecret: rotated.data.rotateAgentSecret.clientSecret };
    expect(await tokenStatus(agent)).toBe(200);
    expect(await tokenStatus(fresh)).toBe(200);
    clock.advance(61);
    expect(await tokenStatus(agent)).toBe(401);
    expect(await tokenStatus(fresh)).toBe(200);
  });

  it('stops the old secret when the grace period ends, to the second, though the agent was read before', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await mutate('rotateAgentSecret', agent.id, ', gracePeriodSeconds: 60');
    expect(await tokenStatus(agent)).toBe(200);
    clock.advance(60);
    expect(await tokenStatus(agent)).toBe(401);
  });

  it('keeps only the secret rotated out beside the new one: an older one still in its grace period stops at once', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const secrets: ClientCredentials[] = [agent];
    for (let rotation = 0; rotation < 3; rotation += 1) {
      const rotated = await mutate('rotateAgentSecret', agent.id, ', gracePeriodSeconds: 60');
      secrets.push({ clientId: agent.id, clientSecret: rotated.data.rotateAgentSecret.clientSecret });
      clock.advance(10);
    }
    const statuses = async () => Promise.all(secrets.map(tokenStatus));
    expect(await statuses()).toEqual([401, 401, 200, 200]);
    clock.advance(60);
    expect(await statuses()).toEqual([401, 401, 401, 200]);
  });

  it('stops the old secret at once by default, and refuses a grace period past 30 days', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const rotated = await mutate('rotateAgentSecret', agent.id);
    expect(await tokenStatus(agent)).toBe(401);
    expect(await tokenStatus({ clientId: agent.id, clientSecret: rotated.data.rotateAgentSecret.clientSecret })).toBe(200);
    const tooLong = await mutate('rotateAgentSecret', agent.id, ', gracePeriodSeconds: 2592001');
    expect(tooLong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'gracePeriodSeconds' });
    expect(await auditedActions(agent.id)).toEqual(['agent.registered', 'agent.secret_rotated']);
  });
});

describe('suspension', () => {
  it('refuses the agent’s tokens on the next request and its credentials, until reactivated', async () => {
    const { agent, delegated, own } = await liveAgent();
    const child = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], parentAgentId: agent.id });
    const childToken = (await exchange(hub, child, delegated)).body.access_token;
    expect((await me(childToken)).data.me.id).toBe(alice.id);

    expect((await mutate('suspendAgent', agent.id)).data.suspendAgent.status).toBe('SUSPENDED');
    for (const token of [delegated, own, childToken]) {
      const refused = await me(token);
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="agent not active"');
    }
    expect(await tokenStatus(agent)).toBe(401);
    expect(await tokenStatus(child)).toBe(401);

    expect((await mutate('reactivateAgent', agent.id)).data.reactivateAgent.status).toBe('ACTIVE');
    expect((await me(delegated)).data.me.id).toBe(alice.id);
    expect((await me(childToken)).data.me.id).toBe(alice.id);
    expect(await auditedActions(agent.id)).toEqual(['agent.registered', 'agent.suspended', 'agent.reactivated']);
  });
});

describe('decommissioning', () => {
  let live: Awaited<ReturnType<typeof liveAgent>>;
  beforeAll(async () => {
    live = await liveAgent();
  });

  it('kills every token the agent holds or acts in while still unexpired, and its credentials', async () => {
    expect((await me(live.delegated)).status).toBe(200);
    expect((await mutate('decommissionAgent', live.agent.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect((await me(live.delegated)).status).toBe(401);
    expect((await me(live.own)).status).toBe(401);
    expect(await tokenStatus(live.agent)).toBe(401);
    expect(await exchange(hub, live.agent, alice.accessToken)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('withdraws every consent naming the agent', async () => {
    const consent = await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { status withdrawnAt } }', { token: alice.accessToken, variables: { id: live.consentId } });
    expect(consent.data.consent).toEqual({ status: 'WITHDRAWN', withdrawnAt: clock.now().toISOString() });
  });

  it('is permanent: no reactivation, no new secret, and a second decommission changes nothing', async () => {
    expect((await mutate('reactivateAgent', live.agent.id)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect((await mutate('rotateAgentSecret', live.agent.id)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect((await mutate('decommissionAgent', live.agent.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect(await auditedActions(live.agent.id)).toEqual(['agent.registered', 'agent.decommissioned']);
  });
});

describe('expiry', () => {
  it('turns the agent EXPIRED at expiresAt: its tokens and credentials stop without anyone acting', async () => {
    const expiresAt = new Date(clock.now().getTime() + 300_000).toISOString();
    const agent: RegisteredAgent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], expiresAt });
    const own = await clientCredentialsToken(hub, agent);
    clock.advance(299);
    expect((await me(own)).status).toBe(200);
    clock.advance(2);
    expect((await me(own)).status).toBe(401);
    expect(await tokenStatus(agent)).toBe(401);
    const shown = await graphql<any>(hub, 'query($id: ID!) { agent(id: $id) { status } }', { token: await operatorToken(hub), variables: { id: agent.id } });
    expect(shown.data.agent.status).toBe('EXPIRED');
  });

  it('shows the agent EXPIRED at expiresAt itself, as the filter by status lists it', async () => {
    const expiresAt = new Date(clock.now().getTime() + 300_000).toISOString();
    const agent: RegisteredAgent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], expiresAt });
    clock.set(new Date(expiresAt));
    expect(await tokenStatus(agent)).toBe(401);
    const shown = await graphql<any>(hub, 'query($id: ID!) { agent(id: $id) { status } }', { token: await operatorToken(hub), variables: { id: agent.id } });
    expect(shown.data.agent.status).toBe('EXPIRED');
  });
});

describe('registering with an expiry', () => {
  it('refuses an expiresAt that is not in the future, now itself included: the agent could never act', async () => {
    const REGISTER = 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId } }';
    const token = await operatorToken(hub);
    const register = (expiresAt: Date) =>
      graphql<any>(hub, REGISTER, { token, variables: { input: { name: 'Agent', kind: 'AI_AGENT', allowedScopes: ['orders:read'], expiresAt: expiresAt.toISOString() } } });
    const now = await register(clock.now());
    expect(now.data).toBeNull();
    expect(now.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.expiresAt' });
    expect((await register(new Date(clock.now().getTime() + 1_000))).errors).toBeUndefined();
  });
});

describe('the audit trail of a user’s agent', () => {
  it('puts its registration and every change to it in the owner’s trail, a rotation with its grace period', async () => {
    const token = await operatorToken(hub);
    const agent = await registerAgent(hub, token, { ownerUserId: alice.id, allowedScopes: ['orders:read'] });
    const change = (mutation: string) => graphql<any>(hub, mutation, { token, variables: { id: agent.id } });
    expect((await change('mutation($id: ID!) { rotateAgentSecret(id: $id, gracePeriodSeconds: 60) { clientId } }')).errors).toBeUndefined();
    expect((await change('mutation($id: ID!) { suspendAgent(id: $id) { status } }')).errors).toBeUndefined();
    expect((await change('mutation($id: ID!) { reactivateAgent(id: $id) { status } }')).errors).toBeUndefined();
    const rows = await hub.database.db.selectFrom('audit_events').select(['action', 'subject_user_id', 'detail']).where('action', 'like', 'agent.%').orderBy('chain_seq').execute();
    const events = rows.filter((row) => (row.detail as { agentId?: string }).agentId === agent.id);
    expect(events.map(({ action, subject_user_id }) => [action, subject_user_id])).toEqual([
      ['agent.registered', alice.id],
      ['agent.secret_rotated', alice.id],
      ['agent.suspended', alice.id],
      ['agent.reactivated', alice.id],
    ]);
    expect(events[1]!.detail).toEqual({ agentId: agent.id, gracePeriodSeconds: 60 });
  });
});
