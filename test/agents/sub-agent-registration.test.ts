import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { MAX_AGENT_LINEAGE } from '../../src/agents/agent-registration.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { operatorToken, registerAgent } from '../helpers/oauth.js';

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

const register = (token: string, parentAgentId: string) =>
  graphql<any>(hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId } }', {
    token,
    variables: { input: { name: 'Grandchild', kind: 'AI_AGENT', allowedScopes: ['orders:read'], parentAgentId } },
  });
const errorOf = (response: { errors?: { extensions?: Record<string, unknown> }[] }) => response.errors?.[0]?.extensions;
const owned = async () => (await hub.database.db.selectFrom('agents').select('id').where('owner_user_id', '=', alice.id).execute()).length;

describe('registering a sub-agent under an active parent whose own ancestor cannot act', () => {
  it('is refused while an operator’s suspension holds the grandparent, and allowed once it is lifted', async () => {
    const grandparent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    const parent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], parentAgentId: grandparent.id });
    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: grandparent.id } });
    const before = await owned();
    expect(errorOf(await register(alice.accessToken, parent.id))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.parentAgentId' });
    expect(await owned()).toBe(before);
    await graphql(hub, 'mutation($id: ID!) { reactivateAgent(id: $id) { status } }', { token: admin, variables: { id: grandparent.id } });
    expect((await register(alice.accessToken, parent.id)).errors).toBeUndefined();
  });

  it('is refused once the grandparent is past its expiry: the sub-agent could never act', async () => {
    const expiresAt = new Date(clock.now().getTime() + 60_000).toISOString();
    const grandparent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], expiresAt });
    const parent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], parentAgentId: grandparent.id, expiresAt });
    clock.advance(61);
    expect(errorOf(await register(alice.accessToken, parent.id))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.parentAgentId' });
  });
});

describe('a lineage of sub-agents', () => {
  it(`holds at most ${MAX_AGENT_LINEAGE} agents, so a token check reads a bounded chain of ancestors`, async () => {
    let parent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    for (let depth = 2; depth <= MAX_AGENT_LINEAGE; depth++) parent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], parentAgentId: parent.id });
    const ancestors = await hub.database.db.selectFrom('agents').select('ancestor_ids').where('id', '=', parent.id).executeTakeFirstOrThrow();
    expect(ancestors.ancestor_ids).toHaveLength(MAX_AGENT_LINEAGE - 1);
    expect(errorOf(await register(admin, parent.id))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.parentAgentId' });
  });
});
