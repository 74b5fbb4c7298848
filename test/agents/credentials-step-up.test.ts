import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// A stolen access token must not become lasting access: with it, a thief could register an agent
// or rotate the secret of one of the user's agents (either answers the agent's secret), consent to
// it and exchange the stolen token for a delegated one with a refresh token that outlives the
// stolen one. So handing out an agent's secret takes a recent sign-in, as erasing an account does.
const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;

const DAY = 86_400;
const REGISTER = 'mutation($i: RegisterAgentInput!) { registerAgent(input: $i) { clientId clientSecret } }';
const ROTATE = 'mutation($id: ID!) { rotateAgentSecret(id: $id) { clientSecret } }';
const register = (token: string) => graphql<any>(hub, REGISTER, { token, variables: { i: { name: 'Helper', kind: 'AI_AGENT', allowedScopes: ['orders:read', 'offline_access'] } } });
const rotate = (token: string, id: string) => graphql<any>(hub, ROTATE, { token, variables: { id } });
const SUSPEND = 'mutation($id: ID!) { suspendAgent(id: $id) { status } }';
const reactivate = (token: string, id: string) => graphql<any>(hub, 'mutation($id: ID!) { reactivateAgent(id: $id) { status } }', { token, variables: { id } });
const refresh = (refreshToken: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: refreshToken });
const authenticates = async (agent: RegisteredAgent) => (await postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(agent))).status === 200;
const agentsOf = async (userId: string) => (await hub.database.db.selectFrom('agents').select('id').where('owner_user_id', '=', userId).orderBy('id').execute()).map((row) => row.id);
/** The refusals for an old sign-in in this user's trail: action and detail. */
const refusedInTrail = async (userId: string) => {
  await hub.services.audit.flush();
  const rows = await hub.database.db.selectFrom('audit_events').select(['action', 'detail']).where('subject_user_id', '=', userId).where('decision', '=', 'deny').where('reason', '=', 'REAUTHENTICATE').orderBy('occurred_at').execute();
  return rows.map((row) => ({ action: row.action, detail: row.detail }));
};
const secretsOf = async (agentId: string) => (await hub.database.db.selectFrom('agent_secrets').select('secret_hash').where('agent_id', '=', agentId).orderBy('secret_hash').execute()).map((row) => row.secret_hash);

/** A user who typed their password `seconds` ago, with one agent of theirs registered then, on an access token refreshed since (each lives 10 minutes). */
async function signedInAgo(seconds: number) {
  const user = await signUpUser(hub);
  const agent = await registerAgent(hub, user.accessToken, { allowedScopes: ['orders:read', 'offline_access'] });
  clock.advance(seconds - 60);
  const session = await refresh(user.refreshToken);
  expect(session.status).toBe(200);
  clock.advance(60);
  return { ...user, agent, token: session.body.access_token as string };
}

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  await operatorToken(hub);
});
afterAll(() => hub.close());

describe('a user whose sign-in is older than 10 minutes', () => {
  it('is told to sign in again before registering an agent, and none is registered', async () => {
    const alice = await signedInAgo(20 * DAY);
    const before = await agentsOf(alice.id);
    const refused = await register(alice.token);
    expect(refused.status).toBe(200);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringContaining('sign in again'), extensions: { code: 'UNAUTHENTICATED' } });
    expect(await agentsOf(alice.id)).toEqual(before);
    // What a stolen token tried is in the person's own trail.
    expect(await refusedInTrail(alice.id)).toEqual([{ action: 'agent.registered', detail: {} }]);

    const fresh = await signIn(hub, alice);
    expect((await register(fresh.accessToken)).data.registerAgent.clientSecret).toEqual(expect.any(String));
    expect(await agentsOf(alice.id)).toHaveLength(before.length + 1);
  });

  it('is told to sign in again before rotating an agent’s secret, and the secret stays the one that works', async () => {
    const bob = await signedInAgo(20 * DAY);
    const stored = await secretsOf(bob.agent.id);
    const refused = await rotate(bob.token, bob.agent.id);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringContaining('sign in again'), extensions: { code: 'UNAUTHENTICATED' } });
    expect(await secretsOf(bob.agent.id)).toEqual(stored);
    expect(await authenticates(bob.agent)).toBe(true);
    expect(await refusedInTrail(bob.id)).toEqual([{ action: 'agent.secret_rotated', detail: { agentId: bob.agent.id } }]);

    const fresh = await signIn(hub, bob);
    const rotated = await rotate(fresh.accessToken, bob.agent.id);
    expect(rotated.data.rotateAgentSecret.clientSecret).toEqual(expect.any(String));
    expect(await authenticates(bob.agent)).toBe(false);
  });

  it('counts the 10 minutes from the sign-in to the second', async () => {
    const carol = await signedInAgo(10 * 60);
    expect((await rotate(carol.token, carol.agent.id)).data.rotateAgentSecret.clientSecret).toEqual(expect.any(String));
    expect((await register(carol.token)).data.registerAgent.clientSecret).toEqual(expect.any(String));

    const dan = await signedInAgo(10 * 60 + 1);
    expect((await rotate(dan.token, dan.agent.id)).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await register(dan.token)).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('is still refused another user’s agent as not theirs, and still pauses and ends their own', async () => {
    const erin = await signedInAgo(DAY);
    const frank = await signedInAgo(60);
    expect((await rotate(erin.token, frank.agent.id)).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    const suspended = await graphql<any>(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: erin.token, variables: { id: erin.agent.id } });
    expect(suspended.data.suspendAgent.status).toBe('SUSPENDED');
    const decommissioned = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: erin.token, variables: { id: erin.agent.id } });
    expect(decommissioned.data.decommissionAgent.status).toBe('DECOMMISSIONED');
  });

  it('is told to sign in again before reactivating an agent that keeps access, which stays suspended', async () => {
    // An owner suspends an agent whose secret leaked. Lifting that with a stolen token would let
    // the secret's holder exchange the token, under the owner's consent, for a refresh token.
    const ivy = await signedInAgo(20 * DAY);
    await giveConsent(hub, (await signIn(hub, ivy)).accessToken, { agentId: ivy.agent.id, scopes: ['orders:read'] });
    expect((await graphql<any>(hub, SUSPEND, { token: ivy.token, variables: { id: ivy.agent.id } })).data.suspendAgent.status).toBe('SUSPENDED');
    const refused = await reactivate(ivy.token, ivy.agent.id);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringContaining('sign in again'), extensions: { code: 'UNAUTHENTICATED' } });
    expect(await authenticates(ivy.agent)).toBe(false);
    expect((await exchange(hub, ivy.agent, ivy.token, { scope: 'orders:read offline_access' })).body.refresh_token).toBeUndefined();
    expect(await refusedInTrail(ivy.id)).toEqual([{ action: 'agent.reactivated', detail: { agentId: ivy.agent.id } }]);

    const fresh = await signIn(hub, ivy);
    expect((await reactivate(fresh.accessToken, ivy.agent.id)).data.reactivateAgent.status).toBe('ACTIVE');
    expect(await authenticates(ivy.agent)).toBe(true);
  });

  it('still reactivates, on an old sign-in, an agent that can hold no refresh token', async () => {
    const jon = await signedInAgo(20 * DAY);
    const online = await registerAgent(hub, (await signIn(hub, jon)).accessToken, { allowedScopes: ['orders:read'] });
    await graphql<any>(hub, SUSPEND, { token: jon.token, variables: { id: online.id } });
    expect((await reactivate(jon.token, online.id)).data.reactivateAgent.status).toBe('ACTIVE');
    expect(await refusedInTrail(jon.id)).toEqual([]);
  });

  it('leaves an operator client free to register an agent for them and rotate its secret', async () => {
    const gina = await signedInAgo(DAY);
    const admin = await operatorToken(hub);
    const registered = await graphql<any>(hub, REGISTER, { token: admin, variables: { i: { name: 'Gina’s helper', kind: 'AI_AGENT', allowedScopes: ['orders:read'], ownerUserId: gina.id } } });
    expect(registered.data.registerAgent.clientSecret).toEqual(expect.any(String));
    expect((await rotate(admin, gina.agent.id)).data.rotateAgentSecret.clientSecret).toEqual(expect.any(String));
  });
});

describe('an agent acting for the user (a delegated token)', () => {
  it('registers no agent and rotates no secret, however recent the sign-in behind it', async () => {
    const hank = await signUpUser(hub);
    const helper = await registerAgent(hub, hank.accessToken, { allowedScopes: ['orders:read', 'offline_access'] });
    await giveConsent(hub, hank.accessToken, { agentId: helper.id, scopes: ['orders:read'] });
    const { accessToken: handed } = await signIn(hub, hank);
    const exchanged = await exchange(hub, helper, handed, { scope: 'orders:read' });
    expect(exchanged.status).toBe(200);
    const delegated = exchanged.body.access_token as string;
    const before = await agentsOf(hank.id);
    expect((await register(delegated)).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect((await rotate(delegated, helper.id)).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(await agentsOf(hank.id)).toEqual(before);
    expect(await authenticates(helper)).toBe(true);
    expect(await refusedInTrail(hank.id)).toEqual([]);
  });
});
