import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { migrations } from '../../migrations/index.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { registerAgent } from '../helpers/oauth.js';

const clock = fixedClock(new Date('2030-01-01T00:00:00Z'));
let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  alice = await signUpUser(hub);
});
afterAll(() => hub.close());

const inMinutes = (minutes: number) => new Date(clock.now().getTime() + minutes * 60_000).toISOString();
const register = (parentAgentId: string, expiresAt?: string) =>
  graphql<any>(hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { agent { expiresAt } } }', {
    token: alice.accessToken,
    variables: { input: { name: 'Child', kind: 'AI_AGENT', allowedScopes: ['orders:read'], parentAgentId, ...(expiresAt && { expiresAt }) } },
  });
const owned = async () => (await hub.database.db.selectFrom('agents').select('id').where('owner_user_id', '=', alice.id).execute()).length;

describe('registering a sub-agent under an ancestor that expires', () => {
  it('is refused with an expiry later than the earliest ancestor’s, or with none, naming that expiry', async () => {
    const grandparent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], expiresAt: inMinutes(10) });
    const parent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], parentAgentId: grandparent.id, expiresAt: inMinutes(5) });
    const before = await owned();
    for (const expiresAt of [inMinutes(6), inMinutes(10), undefined]) {
      const refused = await register(parent.id, expiresAt);
      expect(refused.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.expiresAt' });
      expect(refused.errors?.[0]?.message).toContain(inMinutes(5));
    }
    expect(await owned()).toBe(before);
  });

  it('is allowed up to that expiry, which the sub-agent then carries', async () => {
    const grandparent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], expiresAt: inMinutes(5) });
    const parent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], parentAgentId: grandparent.id, expiresAt: inMinutes(5) });
    const registered = await register(parent.id, inMinutes(5));
    expect(registered.errors).toBeUndefined();
    expect(registered.data.registerAgent.agent.expiresAt).toBe(inMinutes(5));
  });

  it('leaves the expiry free under ancestors that never expire', async () => {
    const parent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    expect((await register(parent.id)).errors).toBeUndefined();
    expect((await register(parent.id, '9999-12-31T00:00:00Z')).errors).toBeUndefined();
  });
});

describe('sub-agents registered before that check (migration 0022)', () => {
  it('get the earliest expiry of their lineage when they had none or a later one, and keep an earlier one', async () => {
    const grandparent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], expiresAt: inMinutes(10) });
    const parent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], parentAgentId: grandparent.id, expiresAt: inMinutes(5) });
    const free = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    const child = async (parentAgentId: string, storedExpiry: string | null) => {
      const { id } = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], parentAgentId, expiresAt: inMinutes(2) });
      // As the hub stored sub-agents before registration checked their expiry.
      await hub.database.db.updateTable('agents').set({ expires_at: storedExpiry }).where('id', '=', id).execute();
      return id;
    };
    const agents = {
      grandparent: grandparent.id,
      parent: parent.id,
      none: await child(parent.id, null),
      later: await child(parent.id, inMinutes(7)),
      earlier: await child(parent.id, inMinutes(2)),
      free: free.id,
      freeChild: await child(free.id, null),
    };

    await migrations['0022_sub_agent_expiry']!.up(hub.database.db);

    const rows = await hub.database.db.selectFrom('agents').select(['id', 'expires_at']).where('id', 'in', Object.values(agents)).execute();
    const expiry = Object.fromEntries(rows.map((row) => [row.id, row.expires_at?.toISOString() ?? null]));
    expect(Object.fromEntries(Object.entries(agents).map(([name, id]) => [name, expiry[id]]))).toEqual({
      grandparent: inMinutes(10),
      parent: inMinutes(5),
      none: inMinutes(5),
      later: inMinutes(5),
      earlier: inMinutes(2),
      free: null,
      freeChild: null,
    });
  });
});
