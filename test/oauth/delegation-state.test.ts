import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// What the token check reads of a delegation, on its own: the lifetimes the hub gives tokens end
// them no later than their consent and agents, but the check must not lean on that.

const START = '2031-03-01T09:00:00.000Z';
const clock = fixedClock(START);
const at = (iso: string, offsetMs = 0) => new Date(new Date(iso).getTime() + offsetMs);
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
});
afterAll(() => hub.close());

const stateOf = (facts: { agentIds: string[]; consentId?: string; userId?: string }) => hub.services.tokens.delegationState(hub.services.db, facts);
const suspend = (agent: RegisteredAgent) => graphql<any>(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agent.id } });

describe('the agents of a delegation chain', () => {
  it('are live only while every one is: a suspended sub-agent under an active parent ends its token on the next request', async () => {
    const concierge = await registerAgent(hub, admin, { name: 'Concierge', allowedScopes: ['orders:read'] });
    const lookup = await registerAgent(hub, admin, { name: 'Order lookup', allowedScopes: ['orders:read'], parentAgentId: concierge.id });
    await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: concierge.id, scopes: ['orders:read'] });
    const parentToken = (await exchange(hub, concierge, (await signIn(hub, alice)).accessToken)).body.access_token as string;
    const childToken = (await exchange(hub, lookup, parentToken, { scope: 'orders:read' })).body.access_token as string;
    expect((await graphql(hub, '{ me { id } }', { token: childToken })).status).toBe(200);

    expect((await suspend(lookup)).data.suspendAgent.status).toBe('SUSPENDED');
    expect((await graphql(hub, '{ me { id } }', { token: childToken })).status).toBe(401);
    expect((await graphql(hub, '{ me { id } }', { token: parentToken })).status).toBe(200);
    expect((await stateOf({ agentIds: [lookup.id, concierge.id] })).agentsLive).toBe(false);
  });

  it('end at the instant of an agent’s expiresAt, not a moment later', async () => {
    const expiresAt = at(START, 300_000).toISOString();
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], expiresAt });
    try {
      clock.set(at(expiresAt, -1));
      expect((await stateOf({ agentIds: [agent.id] })).agentsLive).toBe(true);
      clock.set(expiresAt);
      expect((await stateOf({ agentIds: [agent.id] })).agentsLive).toBe(false);
    } finally {
      clock.set(START);
    }
  });
});

describe('the consent of a delegation', () => {
  it('is out of force at the instant of its expiresAt, for the token check and the field decision alike', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const expiresAt = at(START, 3_600_000).toISOString();
    const consentId = await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'], expiresAt });
    const facts = { agentIds: [agent.id], consentId, userId: alice.id };
    try {
      clock.set(at(expiresAt, -1));
      expect(await stateOf(facts)).toMatchObject({ consentLive: true, grant: { consent: { expired: false } } });
      clock.set(expiresAt);
      expect(await stateOf(facts)).toMatchObject({ consentLive: false, grant: { consent: { expired: true } } });
    } finally {
      clock.set(START);
    }
  });

  it('is in force only for the user who gave it', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const consentId = await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
    const bob = await signUpUser(hub);
    expect((await stateOf({ agentIds: [agent.id], consentId, userId: alice.id })).consentLive).toBe(true);
    expect((await stateOf({ agentIds: [agent.id], consentId, userId: bob.id })).consentLive).toBe(false);
  });
});
