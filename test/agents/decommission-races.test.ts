import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

// Decommissioning a lineage racing a consent or a registration under it, on a real server (PGlite
// has one connection, so nothing there runs concurrently). Each race is forced into one order by
// a transaction that holds a lock the first contender needs; the test releases it once every
// contender is seen waiting.

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;

describe.skipIf(testServerUrl() === undefined)('decommissioning a lineage while', () => {
  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
    admin = await operatorToken(hub);
    alice = await signUpUser(hub);
  });
  afterAll(() => hub.close());
  const { holding, waiters } = lockHolder(() => hub.services.db);

  const GIVE = 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id status } }';
  const giveToAgent = (agentId: string) => graphql<any>(hub, GIVE, { token: alice.accessToken, variables: { input: { purpose: 'support', agentId, scopes: ['orders:read'] } } });
  const decommission = (id: string) => graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id } });
  const consentStatus = async (id: string) => (await hub.services.db.selectFrom('consents').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
  const family = async () => {
    const parent = await registerAgent(hub, admin, { name: 'Parent', allowedScopes: ['orders:read'] });
    const child = await registerAgent(hub, admin, { name: 'Child', allowedScopes: ['orders:read'], parentAgentId: parent.id });
    return { parent, child };
  };

  it('a consent to a sub-agent is being given: one that waited for the decommissioning is refused', async () => {
    const { parent, child } = await family();
    // Holds the user's consent lock: the consent waits at its first step.
    const held = await holding((tx) => sql`select pg_advisory_xact_lock(hashtext(${`consents:${alice.id}`}))`.execute(tx));
    const given = giveToAgent(child.id);
    await waiters(1);
    expect((await decommission(parent.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    await held.release();
    const refused = await given;
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.agentId' });
    expect(await hub.services.db.selectFrom('consents').select('id').where('agent_id', '=', child.id).execute()).toEqual([]);
  });

  it('a consent to a sub-agent is being given: the decommissioning waits for it, then withdraws it', async () => {
    const { parent, child } = await family();
    const earlier = await giveConsent(hub, alice.accessToken, { agentId: child.id, scopes: ['orders:read'] });
    // Holds the consent the new one replaces: the new one waits after checking the agent.
    const held = await holding((tx) => tx.selectFrom('consents').select('id').where('id', '=', earlier).forUpdate().execute());
    const given = giveToAgent(child.id);
    await waiters(1);
    const decommissioned = decommission(parent.id);
    await waiters(2);
    await held.release();
    const consent = (await given).data.giveConsent;
    expect(consent.status).toBe('ACTIVE');
    expect((await decommissioned).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect(await consentStatus(consent.id)).toBe('withdrawn');
    expect(await consentStatus(earlier)).toBe('withdrawn');
  });

  it('a sub-agent is being registered: one that waited for the decommissioning is refused', async () => {
    const { parent } = await family();
    const consentId = await giveConsent(hub, alice.accessToken, { agentId: parent.id, scopes: ['orders:read'] });
    // Holds a consent naming the parent: the decommissioning waits with the parent locked.
    const held = await holding((tx) => tx.selectFrom('consents').select('id').where('id', '=', consentId).forUpdate().execute());
    const decommissioned = decommission(parent.id);
    await waiters(1);
    const registered = graphql<any>(hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { agent { id } } }', {
      token: admin,
      variables: { input: { name: 'Late child', kind: 'AI_AGENT', allowedScopes: ['orders:read'], parentAgentId: parent.id } },
    });
    await waiters(2);
    await held.release();
    expect((await decommissioned).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect((await registered).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.parentAgentId' });
    expect(await hub.services.db.selectFrom('agents').select('id').where('parent_agent_id', '=', parent.id).where('status', '!=', 'decommissioned').execute()).toEqual([]);
  });

  it('its sub-agent is being decommissioned: the lineage waits for it, and ends it no second time', async () => {
    const parent = await registerAgent(hub, alice.accessToken, { name: 'Own parent', allowedScopes: ['orders:read'] });
    const child = await registerAgent(hub, alice.accessToken, { name: 'Own child', allowedScopes: ['orders:read'], parentAgentId: parent.id });
    // Holds the owner's audit chain: the child's decommissioning waits there, the child ended but not committed.
    const held = await holding((tx) => tx.selectFrom('audit_chain_heads').select('seq').where('chain_key', '=', alice.id).forUpdate().execute());
    const childEnded = decommission(child.id);
    await waiters(1);
    const lineageEnded = decommission(parent.id);
    await waiters(2);
    await held.release();

    expect((await childEnded).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect((await lineageEnded).data.decommissionAgent.status).toBe('DECOMMISSIONED');
    const ended = (agentId: string) =>
      hub.services.db.selectFrom('audit_events').select('id').where('action', '=', 'agent.decommissioned').where(sql<boolean>`detail->>'agentId' = ${agentId}`).execute();
    expect(await ended(child.id)).toHaveLength(1);
    expect(await ended(parent.id)).toHaveLength(1);
  });
});
