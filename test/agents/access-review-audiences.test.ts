import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { clientCredentialsToken, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// Marketing clients whose only work is reading audiences. A member field resolves, and a filter
// key selects on its field, only where the client's own data scopes cover it: those scopes are in
// use, and a review that reads only `profile.read` would tell the operator to take them away.

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
const agents: Record<'mailer' | 'ageCounter' | 'exporter' | 'idle', RegisteredAgent> = {} as never;

const REVIEW = `{ accessReview {
  register(first: 100) { edges { node { agent { id } lastActiveAt fieldsRead usedScopes unusedScopes findings } } }
  findings(kind: OVER_PRIVILEGED, first: 100) { edges { node { agent { id } scopes } } } } }`;

const service = (name: string, allowedScopes: string[]) => registerAgent(hub, admin, { name, kind: 'SERVICE', allowedScopes });

async function read(agent: RegisteredAgent, query: string): Promise<void> {
  const body = await graphql<any>(hub, query, { token: await clientCredentialsToken(hub, agent) });
  expect(body.errors).toBeUndefined();
}

/**
 * Four clients, each holding contact:read: one reads members' emails; one only counts members by
 * age (a filter on birthdate, under identity:read); one only exports a saved audience selected on
 * orders (orders:read) and showing emails; one only authenticates.
 */
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  agents.mailer = await service('Mailer', ['audience:read', 'contact:read']);
  agents.ageCounter = await service('Age counter', ['audience:read', 'contact:read', 'identity:read']);
  agents.exporter = await service('Exporter', ['audience:read', 'contact:read', 'orders:read']);
  agents.idle = await service('Idle mailer', ['audience:read', 'contact:read']);
  const user = await signUpUser(hub);
  await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
  await giveConsent(hub, user.accessToken, { purpose: 'loyalty_offers' });

  await read(agents.mailer, '{ audience(purpose: "email_marketing", first: 10) { edges { node { id email } } } }');
  await read(agents.ageCounter, '{ audience(purpose: "loyalty_offers", filter: { ageMin: 18 }) { totalCount } }');
  const exporter = await clientCredentialsToken(hub, agents.exporter);
  const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
    token: exporter,
    variables: { input: { name: 'Buyers', purpose: 'loyalty_offers', filter: { orders: { minCount: 0 } } } },
  });
  const exported = await hub.http.inject({ method: 'GET', url: `/audiences/${created.data.createAudience.id}/export`, headers: { authorization: `Bearer ${exporter}` } });
  expect(exported.body.split('\n').filter(Boolean).map((line) => JSON.parse(line))).toEqual([{ id: user.id, email: user.email }]);
  await clientCredentialsToken(hub, agents.idle);
  await hub.services.audit.flush();
});
afterAll(() => hub.close());

/** The register entry of the agent and its OVER_PRIVILEGED finding (null for none), as one review shows them. */
async function reviewOf(agent: RegisteredAgent) {
  const body = await graphql<any>(hub, REVIEW, { token: admin });
  expect(body.errors).toBeUndefined();
  const { register, findings } = body.data.accessReview;
  return {
    entry: register.edges.map((e: any) => e.node).find((n: any) => n.agent.id === agent.id),
    overPrivileged: findings.edges.map((e: any) => e.node).find((n: any) => n.agent.id === agent.id) ?? null,
  };
}

const entry = (agent: RegisteredAgent, fields: Record<string, unknown>) => ({ agent: { id: agent.id }, lastActiveAt: clock.now().toISOString(), ...fields });

describe('an access review of clients that read audiences', () => {
  it('counts the member fields an audience page showed as use of the scopes covering them', async () => {
    expect(await reviewOf(agents.mailer)).toEqual({
      entry: entry(agents.mailer, { fieldsRead: ['email', 'id'], usedScopes: ['contact:read'], unusedScopes: [], findings: [] }),
      overPrivileged: null,
    });
    // The same scopes, used for nothing but authenticating.
    expect(await reviewOf(agents.idle)).toEqual({
      entry: entry(agents.idle, { fieldsRead: [], usedScopes: [], unusedScopes: ['contact:read'], findings: ['OVER_PRIVILEGED'] }),
      overPrivileged: { agent: { id: agents.idle.id }, scopes: ['contact:read'] },
    });
  });

  it('counts the field a filter selects on as read, though the query listed no member', async () => {
    expect(await reviewOf(agents.ageCounter)).toEqual({
      entry: entry(agents.ageCounter, { fieldsRead: ['birthdate'], usedScopes: ['identity:read'], unusedScopes: ['contact:read'], findings: ['OVER_PRIVILEGED'] }),
      overPrivileged: { agent: { id: agents.ageCounter.id }, scopes: ['contact:read'] },
    });
  });

  it('counts the fields of an export and those its filter selects on as read', async () => {
    expect(await reviewOf(agents.exporter)).toEqual({
      entry: entry(agents.exporter, { fieldsRead: ['email', 'id', 'orders'], usedScopes: ['contact:read', 'orders:read'], unusedScopes: [], findings: [] }),
      overPrivileged: null,
    });
  });
});
