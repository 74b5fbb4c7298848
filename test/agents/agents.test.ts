import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { MAX_AGENTS_PER_OWNER } from '../../src/agents/agent-registration.js';
import { clientToken, graphql, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  bob = await signUpUser(hub);
});
afterAll(() => hub.close());

const REGISTER = `mutation($input: RegisterAgentInput!) { registerAgent(input: $input) {
  clientId clientSecret agent { id name kind status allowedScopes ownerKind owner { id } parent { id } description expiresAt lastUsedAt }
} }`;
const register = (token: string | undefined, input: Record<string, unknown>) =>
  graphql<any>(hub, REGISTER, { ...(token && { token }), variables: { input: { name: 'Helper', kind: 'AI_AGENT', allowedScopes: ['orders:read'], ...input } } });
const errorOf = (response: { errors?: { extensions?: Record<string, unknown> }[] }) => response.errors?.[0]?.extensions;

describe('registerAgent', () => {
  it('registers an operator-owned agent and shows its secret once: 256 random bits, stored only as SHA-256', async () => {
    const response = await register(admin, { name: 'Mail bot', kind: 'BOT', allowedScopes: ['contact.email:read', 'audit:read'], description: 'Sends receipts' });
    expect(response.errors).toBeUndefined();
    const { clientId, clientSecret, agent } = response.data.registerAgent;
    expect(clientId).toMatch(/^agt_[0-9A-Z]{26}$/);
    expect(Buffer.from(clientSecret, 'base64url')).toHaveLength(32);
    expect(agent).toEqual({
      id: clientId,
      name: 'Mail bot',
      kind: 'BOT',
      status: 'ACTIVE',
      allowedScopes: ['contact.email:read', 'audit:read'],
      ownerKind: 'OPERATOR',
      owner: null,
      parent: null,
      description: 'Sends receipts',
      expiresAt: null,
      lastUsedAt: null,
    });
    const [secret] = await hub.database.db.selectFrom('agent_secrets').selectAll().where('agent_id', '=', clientId).execute();
    expect(Buffer.from(secret!.secret_hash)).toEqual(createHash('sha256').update(clientSecret).digest());
    const row = JSON.stringify(await hub.database.db.selectFrom('agents').selectAll().where('id', '=', clientId).execute());
    expect(row).not.toContain(clientSecret);
    const fetched = await graphql<any>(hub, 'query($id: ID!) { agent(id: $id) { name } }', { token: admin, variables: { id: clientId } });
    expect(JSON.stringify(fetched)).not.toContain(clientSecret);
  });

  it('lets a user register an agent they own, and no one else’s', async () => {
    const own = await register(alice.accessToken, { name: 'My assistant' });
    expect(own.data.registerAgent.agent).toMatchObject({ ownerKind: 'USER', owner: { id: alice.id } });
    const explicit = await register(alice.accessToken, { ownerUserId: alice.id });
    expect(explicit.errors).toBeUndefined();
    const forBob = await register(alice.accessToken, { ownerUserId: bob.id });
    expect(forBob.data).toBeNull();
    expect(errorOf(forBob)).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
  });

  it('refuses anonymous callers, clients without agents:admin and agents acting for a user', async () => {
    expect(errorOf(await register(undefined, {}))).toEqual({ code: 'UNAUTHENTICATED' });
    expect(errorOf(await register(await clientToken(hub, ['audit:read']), {}))).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    await giveConsent(hub, alice.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const delegated = (await exchange(hub, agent, (await signIn(hub, alice)).accessToken)).body.access_token;
    expect(errorOf(await register(delegated, {}))).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it.each([
    [{ allowedScopes: ['orders:read', 'orders:read'] }, 'input.allowedScopes'],
    [{ allowedScopes: ['orders:delete'] }, 'input.allowedScopes'],
    [{ allowedScopes: ['contact.shoeSize:read'] }, 'input.allowedScopes'],
    [{ allowedScopes: ['superuser'] }, 'input.allowedScopes'],
    [{ name: '  ' }, 'input.name'],
    [{ expiresAt: '2001-01-01T00:00:00Z' }, 'input.expiresAt'],
    [{ expiresAt: '9999-12-31T23:30:00-01:00' }, 'input.expiresAt'],
    [{ ownerUserId: 'usr_01J000000000000000000NOONE' }, 'input.ownerUserId'],
    [{ parentAgentId: 'agt_01J000000000000000000NOONE' }, 'input.parentAgentId'],
  ])('refuses %o with BAD_USER_INPUT on %s', async (input, field) => {
    const response = await register(admin, input);
    expect(errorOf(response)).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('gives a user-owned agent no operator scope', async () => {
    const byUser = await register(alice.accessToken, { allowedScopes: ['orders:read', 'users:admin'] });
    expect(errorOf(byUser)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.allowedScopes' });
    const byOperator = await register(admin, { ownerUserId: bob.id, allowedScopes: ['audit:read'] });
    expect(errorOf(byOperator)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.allowedScopes' });
  });

  it('keeps a sub-agent’s ceiling within its parent’s, and a user’s sub-agents under their own agents', async () => {
    const parent = (await register(alice.accessToken, { allowedScopes: ['orders:read', 'contact:read'] })).data.registerAgent.clientId;
    const narrower = await register(alice.accessToken, { parentAgentId: parent, allowedScopes: ['orders:read', 'contact.email:read'] });
    expect(narrower.data.registerAgent.agent.parent).toEqual({ id: parent });
    expect(errorOf(await register(alice.accessToken, { parentAgentId: parent, allowedScopes: ['payment:read'] }))).toMatchObject({ code: 'BAD_USER_INPUT' });
    const underAlices = await register(bob.accessToken, { parentAgentId: parent });
    expect(underAlices.data).toBeNull();
    expect(errorOf(underAlices)).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
  });
});

describe('the agents one user may own', () => {
  it(`are at most ${MAX_AGENTS_PER_OWNER} not decommissioned, counted race-safe, whoever registers them; operators' own are not counted`, async () => {
    const carol = await signUpUser(hub);
    // At once: on a server the registrations run concurrently, and none may slip past the count.
    const all = await Promise.all(Array.from({ length: MAX_AGENTS_PER_OWNER + 2 }, () => register(carol.accessToken, {})));
    const refused = all.filter((response) => response.errors);
    expect(all.length - refused.length).toBe(MAX_AGENTS_PER_OWNER);
    expect(refused.map(errorOf)).toEqual([1, 2].map(() => ({ code: 'BAD_USER_INPUT', field: 'input.ownerUserId' })));
    expect(errorOf(await register(admin, { ownerUserId: carol.id }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.ownerUserId' });

    const [first, second] = all.filter((response) => !response.errors).map((response) => response.data.registerAgent.clientId);
    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: carol.accessToken, variables: { id: first } });
    expect(errorOf(await register(carol.accessToken, {}))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.ownerUserId' });
    await graphql(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: carol.accessToken, variables: { id: second } });
    expect((await register(carol.accessToken, {})).errors).toBeUndefined();
    expect(errorOf(await register(carol.accessToken, {}))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.ownerUserId' });

    const operators = await Promise.all(Array.from({ length: MAX_AGENTS_PER_OWNER + 1 }, () => register(admin, {})));
    expect(operators.filter((response) => response.errors)).toEqual([]);
  });
});

describe('agent and agents', () => {
  it('show an operator every agent, and a user only their own', async () => {
    const mine = (await register(bob.accessToken, { name: 'Bob’s helper' })).data.registerAgent.clientId;
    const theirs = (await register(admin, { name: 'Ops helper' })).data.registerAgent.clientId;
    const LIST = '{ agents(first: 100) { edges { node { id owner { id } } } pageInfo { hasNextPage } } }';
    const bobs = await graphql<any>(hub, LIST, { token: bob.accessToken });
    expect(bobs.data.agents.edges.map((e: any) => e.node)).toEqual([{ id: mine, owner: { id: bob.id } }]);
    const all = await graphql<any>(hub, LIST, { token: admin });
    expect(all.data.agents.edges.map((e: any) => e.node.id)).toEqual(expect.arrayContaining([mine, theirs]));

    const AGENT = 'query($id: ID!) { agent(id: $id) { id name } }';
    expect((await graphql<any>(hub, AGENT, { token: bob.accessToken, variables: { id: mine } })).data.agent.id).toBe(mine);
    const other = await graphql<any>(hub, AGENT, { token: bob.accessToken, variables: { id: theirs } });
    expect(other.data.agent).toBeNull();
    expect(errorOf(other)).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    expect((await graphql<any>(hub, AGENT, { token: admin, variables: { id: 'agt_01J000000000000000000NOONE' } })).data.agent).toBeNull();
    expect(errorOf(await graphql(hub, LIST, { token: await clientToken(hub, ['audit:read']) }))).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('filter by status (expiry folded in) and kind, and page through in creation order', async () => {
    const bot = (await register(admin, { kind: 'BOT', name: 'Paged bot' })).data.registerAgent.clientId;
    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { id } }', { token: admin, variables: { id: bot } });
    const suspended = await graphql<any>(hub, '{ agents(filter: { status: SUSPENDED, kind: BOT }) { edges { node { id status } } } }', { token: admin });
    expect(suspended.data.agents.edges.map((e: any) => e.node)).toEqual([{ id: bot, status: 'SUSPENDED' }]);
    const first = await graphql<any>(hub, '{ agents(first: 2) { edges { node { id } } pageInfo { hasNextPage endCursor } } }', { token: admin });
    expect(first.data.agents.pageInfo.hasNextPage).toBe(true);
    const next = await graphql<any>(hub, 'query($after: String) { agents(first: 2, after: $after) { edges { node { id } } } }', {
      token: admin,
      variables: { after: first.data.agents.pageInfo.endCursor },
    });
    const ids = [...first.data.agents.edges, ...next.data.agents.edges].map((e: any) => e.node.id);
    expect(new Set(ids).size).toBe(4);
  });

  it('takes an empty owner or parent in the filter as the id it is, which names no agent’s, not as no filter', async () => {
    await register(admin, { name: 'Listed bot' });
    const listed = (filter: Record<string, string>) =>
      graphql<any>(hub, 'query($filter: AgentFilter) { agents(filter: $filter) { edges { node { id } } } }', { token: admin, variables: { filter } });
    for (const filter of [{ ownerUserId: '' }, { parentAgentId: '' }] as Record<string, string>[]) {
      const response = await listed(filter);
      expect(response.errors).toBeUndefined();
      expect(response.data.agents.edges).toEqual([]);
    }
  });

  it('let an owner manage their agent, and no other user', async () => {
    const agent = (await register(alice.accessToken, {})).data.registerAgent.clientId;
    const SUSPEND = 'mutation($id: ID!) { suspendAgent(id: $id) { status } }';
    expect(errorOf(await graphql(hub, SUSPEND, { token: bob.accessToken, variables: { id: agent } }))).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    expect((await graphql(hub, SUSPEND, { token: alice.accessToken, variables: { id: agent } })).data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
    const rotated = await graphql<any>(hub, 'mutation($id: ID!) { rotateAgentSecret(id: $id) { clientId clientSecret } }', { token: alice.accessToken, variables: { id: agent } });
    expect(rotated.data.rotateAgentSecret.clientId).toBe(agent);
    const gone = await graphql(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id: 'agt_01J000000000000000000NOONE' } });
    expect(errorOf(gone)).toEqual({ code: 'NOT_FOUND' });
  });

  it('let an owner lift their own suspension of their agent, never an operator’s', async () => {
    const agent = (await register(alice.accessToken, {})).data.registerAgent.clientId;
    const STATUS = (name: string) => `mutation($id: ID!) { ${name}(id: $id) { status } }`;
    const as = (token: string, name: string) => graphql<any>(hub, STATUS(name), { token, variables: { id: agent } });

    expect((await as(alice.accessToken, 'suspendAgent')).data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
    expect((await as(alice.accessToken, 'reactivateAgent')).data).toEqual({ reactivateAgent: { status: 'ACTIVE' } });

    expect((await as(admin, 'suspendAgent')).data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
    const lifted = await as(alice.accessToken, 'reactivateAgent');
    expect(errorOf(lifted)).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(lifted.errors?.[0]?.message).toMatch(/only an operator/);
    // Suspending it again changes nothing of whose suspension it is.
    expect((await as(alice.accessToken, 'suspendAgent')).data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
    expect(errorOf(await as(alice.accessToken, 'reactivateAgent'))).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect((await as(admin, 'reactivateAgent')).data).toEqual({ reactivateAgent: { status: 'ACTIVE' } });

    // An operator suspending an agent its owner suspended makes the suspension the operator's.
    await as(alice.accessToken, 'suspendAgent');
    await as(admin, 'suspendAgent');
    expect(errorOf(await as(alice.accessToken, 'reactivateAgent'))).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const { status } = await hub.services.db.selectFrom('agents').select('status').where('id', '=', agent).executeTakeFirstOrThrow();
    expect(status).toBe('suspended');
  });
});
