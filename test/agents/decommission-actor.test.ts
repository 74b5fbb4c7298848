import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

// The owner of an agent is hidden from the users who consented to it (`Agent.owner`): the
// withdrawals its decommissioning causes must not name the owner to them either.

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  bob = await signUpUser(hub);
});
afterAll(() => hub.close());

const HISTORY = 'query($id: ID!) { consent(id: $id) { status history { kind actorKind actorId } } }';
const lastEvent = async (token: string, consentId: string) => (await graphql<any>(hub, HISTORY, { token, variables: { id: consentId } })).data.consent.history.at(-1);
const decommission = (token: string, id: string) => graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token, variables: { id } });
const latestAccess = async (token: string) =>
  (await graphql<any>(hub, '{ me { accessLog(first: 1) { edges { node { action actor { kind id } } } } } }', { token })).data.me.accessLog.edges[0].node;

describe('the withdrawals that decommissioning an agent causes', () => {
  it('are the hub’s to a user who consented to an agent someone else owns, in the history, the access log and the export', async () => {
    const agent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    const bobs = await giveConsent(hub, bob.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const alices = await giveConsent(hub, alice.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    clock.advance(1);
    expect((await decommission(alice.accessToken, agent.id)).data.decommissionAgent.status).toBe('DECOMMISSIONED');

    expect(await lastEvent(bob.accessToken, bobs)).toEqual({ kind: 'withdrawn', actorKind: 'system', actorId: null });
    expect(await latestAccess(bob.accessToken)).toEqual({ action: 'consent.withdrawn', actor: { kind: 'system', id: null } });
    const exported = await hub.http.inject({ method: 'GET', url: `/users/${bob.id}/export`, headers: { authorization: `Bearer ${bob.accessToken}` } });
    expect(exported.statusCode).toBe(200);
    expect(exported.body).not.toContain(alice.id);

    // The owner's own consent, and the owner's own trail, still name the owner.
    expect(await lastEvent(alice.accessToken, alices)).toEqual({ kind: 'withdrawn', actorKind: 'user', actorId: alice.id });
    const decommissioned = await graphql<any>(hub, '{ me { accessLog(first: 10) { edges { node { action actor { kind id } } } } } }', { token: alice.accessToken });
    expect(decommissioned.data.me.accessLog.edges.map((e: any) => e.node)).toContainEqual({ action: 'agent.decommissioned', actor: { kind: 'user', id: alice.id } });
  });

  it('name an operator client that decommissions the agent, as its other acts on a user’s data do', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const bobs = await giveConsent(hub, bob.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    clock.advance(1);
    await decommission(admin, agent.id);
    expect(await lastEvent(bob.accessToken, bobs)).toEqual({ kind: 'withdrawn', actorKind: 'client', actorId: expect.stringMatching(/^agt_/) });
  });
});
