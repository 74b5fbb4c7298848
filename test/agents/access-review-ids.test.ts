import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { clientCredentialsToken, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// `id` is in the profile category, but reading it needs no scope: it is the key a caller reached
// the user by. A client that only ever reads ids (agents' owners, audience members) has not used
// profile:read, and a review that says it has hides the scope it could lose; one that lists users
// has, for the oldest-first order it sees them in.

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
const agents: Record<'idLister' | 'ownerLister' | 'memberLister' | 'localeReader', RegisteredAgent> = {} as never;

const REVIEW = `{ accessReview {
  register(first: 100) { edges { node { agent { id } fieldsRead usedScopes unusedScopes findings } } } } }`;

const service = (name: string, allowedScopes: string[]) => registerAgent(hub, admin, { name, kind: 'SERVICE', allowedScopes });

async function read(agent: RegisteredAgent, query: string): Promise<void> {
  const body = await graphql<any>(hub, query, { token: await clientCredentialsToken(hub, agent) });
  expect(body.errors).toBeUndefined();
}

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  agents.idLister = await service('Id lister', ['users:admin', 'profile:read']);
  agents.ownerLister = await service('Owner lister', ['agents:admin', 'profile:read']);
  agents.memberLister = await service('Member lister', ['audience:read', 'profile:read']);
  agents.localeReader = await service('Locale reader', ['users:admin', 'profile:read']);
  const user = await signUpUser(hub);
  await registerAgent(hub, user.accessToken, { name: 'Owned', kind: 'AI_AGENT', allowedScopes: ['orders:read'] });
  await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });

  await read(agents.idLister, '{ users(first: 10) { edges { node { id } } } }');
  await read(agents.ownerLister, '{ agents(first: 10) { edges { node { owner { id } } } } }');
  await read(agents.memberLister, '{ audience(purpose: "email_marketing", first: 10) { edges { node { id } } } }');
  await read(agents.localeReader, `{ user(id: "${user.id}") { id locale } }`);
  await hub.services.audit.flush();
});
afterAll(() => hub.close());

async function entryOf(agent: RegisteredAgent) {
  const body = await graphql<any>(hub, REVIEW, { token: admin });
  expect(body.errors).toBeUndefined();
  return body.data.accessReview.register.edges.map((e: any) => e.node).find((n: any) => n.agent.id === agent.id);
}

describe('an access review of clients that read only ids', () => {
  it('counts profile:read as used by a client that lists users’ ids oldest first, an order only that scope gives it', async () => {
    // Each user's place in the list tells when they signed up: without the scope, it is in id order.
    expect(await entryOf(agents.idLister)).toMatchObject({ fieldsRead: ['createdAt', 'id'], usedScopes: ['profile:read'], unusedScopes: [], findings: [] });
  });

  it('finds profile:read unused for a client that only reads the ids of agents’ owners', async () => {
    expect(await entryOf(agents.ownerLister)).toMatchObject({ fieldsRead: ['id'], usedScopes: [], unusedScopes: ['profile:read'], findings: ['OVER_PRIVILEGED'] });
  });

  it('finds profile:read unused for a client that only lists audience members’ ids', async () => {
    expect(await entryOf(agents.memberLister)).toMatchObject({ usedScopes: [], unusedScopes: ['profile:read'], findings: ['OVER_PRIVILEGED'] });
  });

  it('still counts profile:read as used by a client that reads a field it covers', async () => {
    expect(await entryOf(agents.localeReader)).toMatchObject({ fieldsRead: ['locale'], usedScopes: ['profile:read'], unusedScopes: [], findings: [] });
  });
});
