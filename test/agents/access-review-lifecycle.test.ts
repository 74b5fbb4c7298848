import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
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
const agents: Record<
  'idle' | 'lapsed' | 'withdrawn' | 'expired' | 'decommissioned' | 'graced' | 'pastReader' | 'pastWriter' | 'usedAtStart' | 'bornAtStart',
  RegisteredAgent
> = {} as never;

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

  // Used before the window (day 0) for what they hold, and in it (day 95) only for ids, which need no scope.
  agents.pastReader = await registerAgent(hub, admin, { allowedScopes: ['contact:read', 'orders:read'] });
  agents.pastWriter = await registerAgent(hub, admin, { allowedScopes: ['identity:read', 'identity:write'] });
  agents.usedAtStart = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  agents.graced = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  const acting = (agent: RegisteredAgent) => ({ actor: { kind: 'delegated' as const, id: agent.id }, actorChain: [agent.id], subjectUserId: alice.id, decision: 'ALLOW' as const });
  const readIds = (agent: RegisteredAgent, occurredAt: Date) => ({ action: 'profile.read' as const, ...acting(agent), fieldsRead: ['id'], occurredAt });
  await appendAuditEvents(
    hub.services.db,
    [
      { action: 'profile.read', ...acting(agents.pastReader), fieldsRead: ['email', 'orders'], occurredAt: at(0) },
      { action: 'profile.updated', ...acting(agents.pastWriter), detail: { fields: ['givenName'] }, occurredAt: at(0) },
      readIds(agents.pastReader, at(95)),
      readIds(agents.pastWriter, at(95)),
      // The first moment of a 90-day window reviewed on day 100.
      readIds(agents.usedAtStart, at(10)),
    ],
    at(0),
  );

  clock.set(at(10));
  admin = await operatorToken(hub);
  agents.bornAtStart = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });

  clock.set(at(95));
  admin = await operatorToken(hub);
  const rotated = await graphql<any>(hub, 'mutation($id: ID!) { rotateAgentSecret(id: $id, gracePeriodSeconds: 2592000) { clientSecret } }', { token: admin, variables: { id: agents.graced.id } });
  expect(rotated.errors).toBeUndefined();

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

describe('an access review’s window', () => {
  it('counts no read before the window as use of a scope', async () => {
    expect(entryOf(agents.pastReader)).toMatchObject({ lastActiveAt: at(95).toISOString(), fieldsRead: ['id'], usedScopes: [], unusedScopes: ['contact:read', 'orders:read'] });
    expect(findingsOf(agents.pastReader).find((f: any) => f.kind === 'OVER_PRIVILEGED')).toBeDefined();
  });

  it('counts no change before the window as use of a scope', async () => {
    expect(entryOf(agents.pastWriter)).toMatchObject({ lastActiveAt: at(95).toISOString(), usedScopes: [], unusedScopes: ['identity:read', 'identity:write'] });
  });

  it('counts use at the first moment of the window, and a registration then, as not unused', async () => {
    expect(entryOf(agents.usedAtStart)).toMatchObject({ lastActiveAt: at(10).toISOString() });
    expect(entryOf(agents.usedAtStart).findings).not.toContain('UNUSED');
    expect(entryOf(agents.bornAtStart)).toMatchObject({ lastActiveAt: null });
    expect(entryOf(agents.bornAtStart).findings).not.toContain('UNUSED');
  });
});

describe('an access review of client secrets', () => {
  it('finds a secret due on the day it reaches the rotation age', async () => {
    expect(entryOf(agents.bornAtStart)).toMatchObject({ credentialAgeDays: 90, findings: ['CREDENTIAL_PAST_ROTATION'] });
  });

  it('finds the old secret of a rotation still in its grace period, not only the new one', async () => {
    expect(entryOf(agents.graced)).toMatchObject({ credentialAgeDays: 100 });
    expect(findingsOf(agents.graced).find((f: any) => f.kind === 'CREDENTIAL_PAST_ROTATION')).toMatchObject({ at: start.toISOString() });
  });
});
