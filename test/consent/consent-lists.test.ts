import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { clientCredentialsToken, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
/** Alice's consents, newest first. */
const given: string[] = [];
let connected: string[];
let agents: RegisteredAgent[];
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  const admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  agents = [
    await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read'] }),
    await registerAgent(hub, admin, { name: 'Concierge', allowedScopes: ['orders:read'] }),
  ];
  // Each consent a second after the last: the lists are newest first.
  for (const input of [
    { purpose: 'email_marketing' },
    { purpose: 'email_marketing' },
    { purpose: 'support', agentId: agents[0]!.id, scopes: ['orders:read'] },
    { purpose: 'support', agentId: agents[1]!.id, scopes: ['orders:read'] },
  ]) {
    clock.advance(1);
    given.unshift(await giveConsent(hub, alice.accessToken, input));
  }
  connected = given.slice(0, 2);
});
afterAll(() => hub.close());

const lists = (args: string) => graphql<any>(hub, `{ me { consents${args} { id } connectedAgents${args} { consent { id } } } }`, { token: alice.accessToken });

describe('a user’s consents and connected agents', () => {
  it('list every consent, newest first, when first is left out', async () => {
    const response = await lists('');
    expect(response.errors).toBeUndefined();
    expect(response.data.me.consents.map((c: { id: string }) => c.id)).toEqual(given);
    expect(response.data.me.connectedAgents.map((c: { consent: { id: string } }) => c.consent.id)).toEqual(connected);
  });

  it('list only the newest first ones', async () => {
    const response = await lists('(first: 1)');
    expect(response.data.me).toEqual({ consents: [{ id: given[0] }], connectedAgents: [{ consent: { id: connected[0] } }] });
  });

  it('list only consents to an agent in force as connected agents, however many others are newer', async () => {
    clock.advance(1);
    await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
    const response = await lists('(first: 2)');
    expect(response.data.me.consents).toHaveLength(2);
    expect(response.data.me.connectedAgents.map((c: { consent: { id: string } }) => c.consent.id)).toEqual(connected);
  });

  it('refuse a page past 100', async () => {
    const response = await graphql<any>(hub, '{ me { consents(first: 101) { id } } }', { token: alice.accessToken });
    expect(response.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'first' } });
  });

  it('page each list by its own first, however many ask for the same list under aliases', async () => {
    const response = await graphql<any>(hub, '{ me { one: consents(first: 1) { id } two: consents(first: 2) { id } all: consents { id } oneAgent: connectedAgents(first: 1) { consent { id } } } }', { token: alice.accessToken });
    expect(response.errors).toBeUndefined();
    const all = response.data.me.all.map((c: { id: string }) => c.id);
    expect(all.length).toBeGreaterThan(2);
    expect(response.data.me).toEqual({ one: [{ id: all[0] }], two: [{ id: all[0] }, { id: all[1] }], all: all.map((id: string) => ({ id })), oneAgent: [{ consent: { id: connected[0] } }] });
  });

  it('list 100 when first is left out, not a page of the hub’s other lists', async () => {
    const before = (await lists('')).data.me.consents.length;
    for (let i = before; i < 21; i++) {
      clock.advance(1);
      await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
    }
    const response = await lists('');
    expect(response.data.me.consents).toHaveLength(Math.max(before, 21));
    expect(response.data.me.consents).toEqual((await lists('(first: 100)')).data.me.consents);
  });

  it('show each user only their own consents, when an operator reads several users in one request', async () => {
    const bob = await signUpUser(hub);
    clock.advance(1);
    const bobs = await giveConsent(hub, bob.accessToken, { purpose: 'support', agentId: agents[0]!.id, scopes: ['orders:read'] });
    const operator = await clientToken(hub, ['users:admin', 'consents:admin'], 'agt_01J0000000000000000000CLST');
    const response = await graphql<any>(
      hub,
      'query($alice: ID!, $bob: ID!) { alice: user(id: $alice) { consents { id user { id } } connectedAgents { consent { id } } } bob: user(id: $bob) { consents { id user { id } } connectedAgents { consent { id } } } }',
      { token: operator, variables: { alice: alice.id, bob: bob.id } },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data.bob).toEqual({ consents: [{ id: bobs, user: { id: bob.id } }], connectedAgents: [{ consent: { id: bobs } }] });
    expect(response.data.alice.consents.map((c: { id: string }) => c.id)).toEqual((await lists('')).data.me.consents.map((c: { id: string }) => c.id));
    expect(response.data.alice.consents.every((c: { user: { id: string } }) => c.user.id === alice.id)).toBe(true);
    expect(response.data.alice.connectedAgents).toEqual(connected.map((id) => ({ consent: { id } })));
  });

  it('show when a connected agent last obtained a token', async () => {
    clock.advance(60);
    await clientCredentialsToken(hub, agents[1]!);
    const response = await graphql<any>(hub, '{ me { connectedAgents { agent { id } lastUsedAt } } }', { token: alice.accessToken });
    expect(response.errors).toBeUndefined();
    expect(response.data.me.connectedAgents).toEqual([
      { agent: { id: agents[1]!.id }, lastUsedAt: clock.now().toISOString() },
      { agent: { id: agents[0]!.id }, lastUsedAt: null },
    ]);
  });
});
