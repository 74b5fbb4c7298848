import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
let assistant: RegisteredAgent;
const consents: Record<'aliceSupport' | 'alicePersonalization' | 'bobSupport', string> = {} as never;

const CONSENTS = `query($id: ID!, $live: Boolean, $first: Int, $after: String) {
  agent(id: $id) { consents(live: $live, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { cursor node { id status agent { id } } } } }
}`;
const listed = (body: any) => body.data.agent.consents.edges.map((e: any) => e.node.id);

/** Alice owns an assistant; she gives it two consents and Bob one, a second apart; Alice then withdraws her first. */
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  bob = await signUpUser(hub);
  assistant = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read', 'preferences:read'] });
  consents.aliceSupport = await giveConsent(hub, alice.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
  clock.advance(1);
  consents.alicePersonalization = await giveConsent(hub, alice.accessToken, { purpose: 'personalization', agentId: assistant.id, scopes: ['preferences:read'] });
  clock.advance(1);
  consents.bobSupport = await giveConsent(hub, bob.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
  await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: alice.accessToken, variables: { id: consents.aliceSupport } });
});
afterAll(() => hub.close());

describe('Agent.consents', () => {
  it('lists every consent naming the agent to agents:admin, newest first', async () => {
    const body = await graphql<any>(hub, CONSENTS, { token: admin, variables: { id: assistant.id } });
    expect(listed(body)).toEqual([consents.bobSupport, consents.alicePersonalization, consents.aliceSupport]);
    expect(body.data.agent.consents.edges.every((e: any) => e.node.agent.id === assistant.id)).toBe(true);
  });

  it('records each listing in the profile.read event of every user whose consent it shows', async () => {
    const readsOf = async (userId: string) => {
      await hub.services.audit.flush();
      const found = await findAuditEvents(hub.services.db, { filter: { userId, action: 'profile.read' }, first: 100 });
      return found.edges.map((e) => e.node).filter((e) => e.requestId === 'agent-consents').map((e) => ({ actor: e.actor.kind, fieldsRead: e.fieldsRead }));
    };
    const body = await graphql<any>(hub, CONSENTS, { token: admin, variables: { id: assistant.id, live: true }, headers: { 'x-request-id': 'agent-consents' } });
    expect(listed(body)).toEqual([consents.bobSupport, consents.alicePersonalization]);
    for (const user of [alice, bob]) expect(await readsOf(user.id)).toEqual([{ actor: 'client', fieldsRead: ['consents'] }]);
  });

  it('lists to the owner only the consents they gave it themself', async () => {
    const body = await graphql<any>(hub, CONSENTS, { token: alice.accessToken, variables: { id: assistant.id } });
    expect(listed(body)).toEqual([consents.alicePersonalization, consents.aliceSupport]);
  });

  it('keeps to those in force, or to those no longer in force', async () => {
    const live = await graphql<any>(hub, CONSENTS, { token: admin, variables: { id: assistant.id, live: true } });
    expect(listed(live)).toEqual([consents.bobSupport, consents.alicePersonalization]);
    const ended = await graphql<any>(hub, CONSENTS, { token: admin, variables: { id: assistant.id, live: false } });
    expect(listed(ended)).toEqual([consents.aliceSupport]);
    expect(ended.data.agent.consents.edges[0].node.status).toBe('WITHDRAWN');
  });

  it('pages with cursors, neither repeating nor skipping', async () => {
    const first = await graphql<any>(hub, CONSENTS, { token: admin, variables: { id: assistant.id, first: 2 } });
    expect(first.data.agent.consents.pageInfo.hasNextPage).toBe(true);
    const rest = await graphql<any>(hub, CONSENTS, { token: admin, variables: { id: assistant.id, first: 2, after: first.data.agent.consents.pageInfo.endCursor } });
    expect([...listed(first), ...listed(rest)]).toEqual([consents.bobSupport, consents.alicePersonalization, consents.aliceSupport]);
    expect(rest.data.agent.consents.pageInfo.hasNextPage).toBe(false);
  });

  it('answers each agent of a list with its own consents', async () => {
    const other = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const otherConsent = await giveConsent(hub, bob.accessToken, { agentId: other.id, scopes: ['orders:read'] });
    const body = await graphql<any>(hub, '{ agents(first: 100) { edges { node { id consents(first: 5) { edges { node { id agent { id } } } } } } } }', { token: admin });
    const byAgent = new Map(body.data.agents.edges.map((e: any) => [e.node.id, e.node.consents.edges.map((c: any) => c.node.id)]));
    expect(byAgent.get(other.id)).toEqual([otherConsent]);
    expect(byAgent.get(assistant.id)).toEqual([consents.bobSupport, consents.alicePersonalization, consents.aliceSupport]);
  });

  it('refuses anyone else, naming the reason', async () => {
    const throughConsent = `query($id: ID!) { consent(id: $id) { agent { id consents { edges { node { id } } } } } }`;
    const asBob = await graphql<any>(hub, throughConsent, { token: bob.accessToken, variables: { id: consents.bobSupport } });
    expect(asBob.data.consent.agent).toEqual({ id: assistant.id, consents: null });
    expect(asBob.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    const consentsAdmin = await clientToken(hub, ['consents:admin']);
    const asClient = await graphql<any>(hub, throughConsent, { token: consentsAdmin, variables: { id: consents.bobSupport } });
    expect(asClient.data.consent.agent.consents).toBeNull();
    expect(asClient.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it.each([
    [{ first: 101 }, 'first', 'first: must be from 0 to 100'],
    [{ after: 'bm90IGEgY3Vyc29y' }, 'after', 'after: is not a cursor of this list'],
    [{ after: Buffer.from(JSON.stringify(['yesterday', 'cns_x'])).toString('base64url') }, 'after', 'after: is not a cursor of this list'],
  ])('refuses %j as bad input', async (variables, field, message) => {
    const refused = await graphql<any>(hub, CONSENTS, { token: admin, variables: { id: assistant.id, ...variables } });
    expect(refused.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT', field } });
  });
});
