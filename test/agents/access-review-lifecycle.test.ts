import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// Agents whose consents, secrets and status change over 100 days, reviewed on day 100 with the
// default window: what a review finds of each, and of nothing it should not.

const DAY = 86_400;
const start = new Date();
const clock = fixedClock(start);
const at = (days: number) => new Date(start.getTime() + days * DAY * 1_000);

let hub: Hub;
let admin: string;
const agents: Record<'idle' | 'lapsed' | 'withdrawn' | 'expired' | 'decommissioned', RegisteredAgent> = {} as never;

const REVIEW = `{ accessReview {
  register(first: 100) { edges { node { agent { id status } lastActiveAt credentialAgeDays liveConsentCount consentScopes fieldsRead usedScopes unusedScopes findings } } }
  findings(first: 100) { edges { node { kind reason consentCount at agent { id } } } } } }`;

let body: any;
const entryOf = (agent: RegisteredAgent) => body.data.accessReview.register.edges.map((e: any) => e.node).find((n: any) => n.agent.id === agent.id);
const findingsOf = (agent: RegisteredAgent) => body.data.accessReview.findings.edges.map((e: any) => e.node).filter((f: any) => f.agent.id === agent.id);

const suspend = (agent: RegisteredAgent) => graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agent.id } });

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  const [alice, bob] = [await signUpUser(hub), await signUpUser(hub)];

  // Suspended, and no consent in force names any of them: one never had one, one lapsed on day 30, one was withdrawn.
  agents.idle = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  agents.lapsed = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  await giveConsent(hub, alice.accessToken, { agentId: agents.lapsed.id, scopes: ['orders:read'], expiresAt: at(30).toISOString() });
  agents.withdrawn = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  const withdrawn = await giveConsent(hub, bob.accessToken, { agentId: agents.withdrawn.id, scopes: ['orders:read'] });
  const withdrawal = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: bob.accessToken, variables: { id: withdrawn } });
  expect(withdrawal.data.withdrawConsent.status).toBe('WITHDRAWN');
  for (const agent of [agents.idle, agents.lapsed, agents.withdrawn]) await suspend(agent);

  // Expired on day 50, no consent names it.
  agents.expired = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], expiresAt: at(50).toISOString() });
  // Decommissioned while a consent still names it, as older data may hold.
  agents.decommissioned = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  await giveConsent(hub, (await signUpUser(hub)).accessToken, { agentId: agents.decommissioned.id, scopes: ['orders:read'] });
  await hub.services.db.updateTable('agents').set({ status: 'decommissioned' }).where('id', '=', agents.decommissioned.id).execute();

  clock.set(at(100));
  admin = await operatorToken(hub);
  body = await graphql<any>(hub, REVIEW, { token: admin });
  expect(body.errors).toBeUndefined();
});
afterAll(() => hub.close());

describe('an access review of suspended agents', () => {
  it('finds no consent to an inactive agent where no consent in force names it: never given, lapsed or withdrawn', async () => {
    for (const agent of [agents.idle, agents.lapsed, agents.withdrawn]) {
      expect(entryOf(agent)).toMatchObject({ agent: { status: 'SUSPENDED' }, liveConsentCount: 0, consentScopes: [] });
      expect(findingsOf(agent).map((f: any) => f.kind)).toEqual(['CREDENTIAL_PAST_ROTATION', 'UNUSED']);
    }
  });
});

describe('an access review of agents past reviewing', () => {
  it('finds nothing of an expired agent that no consent in force names', async () => {
    expect(entryOf(agents.expired)).toMatchObject({ agent: { status: 'EXPIRED' }, findings: [] });
  });

  it('keeps a decommissioned agent that a consent in force names, and finds only that', async () => {
    expect(entryOf(agents.decommissioned)).toMatchObject({ agent: { status: 'DECOMMISSIONED' }, liveConsentCount: 1, findings: ['CONSENT_TO_INACTIVE_AGENT'] });
    expect(findingsOf(agents.decommissioned)).toEqual([expect.objectContaining({ consentCount: 1, reason: '1 consent(s) in force name it, but the agent is decommissioned' })]);
  });
});
