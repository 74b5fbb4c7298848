import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { OPERATOR_SCOPES } from '../../src/authz/principal.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { clientCredentialsToken, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

const DAY = 86_400;
const start = new Date();
const clock = fixedClock(start);
const at = (days: number) => new Date(start.getTime() + days * DAY * 1_000);

let hub: Hub;
let admin: string;
const agents: Record<'stale' | 'overPrivileged' | 'writer' | 'suspended' | 'child' | 'rotated' | 'fresh' | 'expiringSoon' | 'expiringLater' | 'ownerSuspended' | 'ownerSuspendedChild', RegisteredAgent> = {} as never;
let ownerId: string;
let suspendedConsent: string;
let childConsent: string;

const REVIEW = `query($days: Int, $rotation: Int, $expiring: Int, $first: Int, $after: String) {
  accessReview(unusedForDays: $days, rotationAgeDays: $rotation, expiringWithinDays: $expiring) {
    generatedAt windowStart unusedForDays rotationAgeDays expiringWithinDays complete agentCount
    summary { kind count }
    register(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { node { agent { id status allowedScopes owner { id } } lastActiveAt credentialAgeDays liveConsentCount consentScopes fieldsRead usedScopes unusedScopes findings } }
    }
    findings(first: 100) { totalCount edges { node { kind reason scopes consentCount at agent { id consents(live: true) { edges { node { id } } } } } } }
  }
}`;

const review = (variables: Record<string, unknown> = {}, token = admin) => graphql<any>(hub, REVIEW, { token, variables: { first: 100, ...variables } });
const findingsOf = (body: any, agentId: string) =>
  body.data.accessReview.findings.edges.map((e: any) => e.node).filter((f: any) => f.agent.id === agentId);
const kindsOf = (body: any, agentId: string) => findingsOf(body, agentId).map((f: any) => f.kind);
const entryOf = (body: any, agentId: string) => body.data.accessReview.register.edges.map((e: any) => e.node).find((n: any) => n.agent.id === agentId);

async function signIn(email: string): Promise<string> {
  const response = await graphql<any>(hub, 'mutation($i: SignInInput!) { signIn(input: $i) { accessToken } }', {
    variables: { i: { email, password: 'correct horse battery staple 42' } },
  });
  return response.data.signIn.accessToken;
}

/**
 * A register built over 100 days: on day 0 most agents are registered and consented to, one is
 * used once and one suspended; on day 95 one agent rotates its secret, one is registered, one
 * reads orders for a user; the reviews run on day 100.
 */
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  const alice = await signUpUser(hub);
  const bob = await signUpUser(hub);
  agents.stale = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  agents.overPrivileged = await registerAgent(hub, admin, { allowedScopes: ['orders:read', 'contact:read'] });
  agents.writer = await registerAgent(hub, admin, { allowedScopes: ['identity:read', 'identity:write'] });
  agents.suspended = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  agents.child = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], parentAgentId: agents.suspended.id });
  agents.rotated = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  await clientCredentialsToken(hub, agents.stale);
  await giveConsent(hub, alice.accessToken, { agentId: agents.overPrivileged.id, scopes: ['orders:read', 'contact:read'] });
  suspendedConsent = await giveConsent(hub, bob.accessToken, { agentId: agents.suspended.id, scopes: ['orders:read'] });
  childConsent = await giveConsent(hub, bob.accessToken, { agentId: agents.child.id, scopes: ['orders:read'] });
  await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agents.suspended.id } });
  // An agent a user owns, and a sub-agent of it, consented to by another customer; then the owner is suspended.
  const owner = await signUpUser(hub);
  ownerId = owner.id;
  agents.ownerSuspended = await registerAgent(hub, owner.accessToken, { allowedScopes: ['orders:read'] });
  agents.ownerSuspendedChild = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], parentAgentId: agents.ownerSuspended.id });
  await giveConsent(hub, bob.accessToken, { agentId: agents.ownerSuspended.id, scopes: ['orders:read'] });
  await giveConsent(hub, bob.accessToken, { agentId: agents.ownerSuspendedChild.id, scopes: ['orders:read'] });
  await graphql(hub, 'mutation($id: ID!) { suspendUser(id: $id) { status } }', { token: admin, variables: { id: owner.id } });

  clock.set(at(95));
  admin = await operatorToken(hub);
  await graphql(hub, 'mutation($id: ID!) { rotateAgentSecret(id: $id) { clientSecret } }', { token: admin, variables: { id: agents.rotated.id } });
  agents.fresh = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
  agents.expiringSoon = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], expiresAt: at(110).toISOString() });
  agents.expiringLater = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], expiresAt: at(130).toISOString() });
  const delegated = (await exchange(hub, agents.overPrivileged, await signIn(alice.email))).body.access_token as string;
  const read = await graphql<any>(hub, '{ me { orders(first: 1) { edges { node { id } } } } }', { token: delegated });
  expect(read.errors).toBeUndefined();
  await hub.services.audit.flush();
  await appendAuditEvents(hub.services.db, [{ action: 'profile.updated', actor: { kind: 'delegated', id: agents.writer.id }, actorChain: [agents.writer.id], subjectUserId: alice.id, decision: 'ALLOW', detail: { fields: ['givenName'] } }], clock.now());

  clock.set(at(100));
  admin = await operatorToken(hub);
});
afterAll(() => hub.close());

describe('accessReview findings', () => {
  it('finds an agent unused for longer than the window, and only then', async () => {
    const body = await review();
    expect(body.errors).toBeUndefined();
    const [unused] = findingsOf(body, agents.stale.id).filter((f: any) => f.kind === 'UNUSED');
    expect(unused.reason).toMatch(/^not used for 100 days \(last used \d{4}-\d{2}-\d{2}\); the limit is 90 days$/);
    expect(unused.at).toBe(start.toISOString());
    expect(kindsOf(body, agents.fresh.id)).not.toContain('UNUSED');
    expect(kindsOf(body, agents.overPrivileged.id)).not.toContain('UNUSED');
    expect(kindsOf(await review({ days: 120 }), agents.stale.id)).not.toContain('UNUSED');
  });

  it('finds a granted scope never used in the window: contact:read held, only orders read', async () => {
    const body = await review();
    const [finding] = findingsOf(body, agents.overPrivileged.id).filter((f: any) => f.kind === 'OVER_PRIVILEGED');
    expect(finding).toMatchObject({ scopes: ['contact:read'], reason: 'granted but not used in the last 90 days: contact:read' });
    expect(entryOf(body, agents.overPrivileged.id)).toMatchObject({
      liveConsentCount: 1,
      consentScopes: ['contact:read', 'orders:read'],
      fieldsRead: ['orders'],
      usedScopes: ['orders:read'],
      unusedScopes: ['contact:read'],
      lastActiveAt: at(95).toISOString(),
    });
    // An agent used in the window for nothing it holds beyond orders is not over-privileged.
    expect(kindsOf(body, agents.stale.id)).not.toContain('OVER_PRIVILEGED');
  });

  it('counts a change made for a user as use of the write scope', async () => {
    const body = await review();
    expect(entryOf(body, agents.writer.id)).toMatchObject({ usedScopes: ['identity:write'], unusedScopes: ['identity:read'], lastActiveAt: at(95).toISOString() });
    expect(findingsOf(body, agents.writer.id).find((f: any) => f.kind === 'OVER_PRIVILEGED')).toMatchObject({ scopes: ['identity:read'] });
    expect(kindsOf(body, agents.writer.id)).not.toContain('UNUSED');
  });

  it('finds consents in force to a suspended agent and to its sub-agent', async () => {
    const body = await review();
    const [parent] = findingsOf(body, agents.suspended.id);
    expect(parent).toMatchObject({ kind: 'CONSENT_TO_INACTIVE_AGENT', consentCount: 1, reason: '1 consent(s) in force name it, but the agent is suspended' });
    expect(parent.agent.consents.edges.map((e: any) => e.node.id)).toEqual([suspendedConsent]);
    const [child] = findingsOf(body, agents.child.id).filter((f: any) => f.kind === 'CONSENT_TO_INACTIVE_AGENT');
    expect(child).toMatchObject({ consentCount: 1, reason: `1 consent(s) in force name it, but its ancestor ${agents.suspended.id} is suspended` });
    expect(child.agent.consents.edges.map((e: any) => e.node.id)).toEqual([childConsent]);
    expect(kindsOf(body, agents.overPrivileged.id)).not.toContain('CONSENT_TO_INACTIVE_AGENT');
  });

  it('finds consents in force to an agent whose owner is suspended, and to its sub-agent: neither can act', async () => {
    const body = await review();
    expect(findingsOf(body, agents.ownerSuspended.id).find((f: any) => f.kind === 'CONSENT_TO_INACTIVE_AGENT')).toMatchObject({
      consentCount: 1,
      reason: `1 consent(s) in force name it, but its owner ${ownerId} is suspended`,
    });
    expect(findingsOf(body, agents.ownerSuspendedChild.id).find((f: any) => f.kind === 'CONSENT_TO_INACTIVE_AGENT')).toMatchObject({
      consentCount: 1,
      reason: `1 consent(s) in force name it, but the owner of its ancestor ${agents.ownerSuspended.id} is suspended`,
    });
  });

  it('finds a client secret past the rotation age, and none once rotated', async () => {
    const body = await review();
    const [past] = findingsOf(body, agents.stale.id).filter((f: any) => f.kind === 'CREDENTIAL_PAST_ROTATION');
    expect(past.reason).toMatch(/^a client secret still valid is 100 days old \(made \d{4}-\d{2}-\d{2}\); rotate secrets every 90 days$/);
    expect(entryOf(body, agents.stale.id).credentialAgeDays).toBe(100);
    expect(kindsOf(body, agents.rotated.id)).not.toContain('CREDENTIAL_PAST_ROTATION');
    expect(entryOf(body, agents.rotated.id).credentialAgeDays).toBe(5);
    expect(kindsOf(await review({ rotation: 101 }), agents.stale.id)).not.toContain('CREDENTIAL_PAST_ROTATION');
  });

  it('finds an agent expiring within the coming days asked for', async () => {
    const body = await review();
    expect(findingsOf(body, agents.expiringSoon.id)).toEqual([expect.objectContaining({ kind: 'EXPIRING_SOON', reason: expect.stringMatching(/, in 10 days$/), at: at(110).toISOString() })]);
    expect(kindsOf(body, agents.expiringLater.id)).toEqual([]);
    expect(kindsOf(await review({ expiring: 30 }), agents.expiringLater.id)).toEqual(['EXPIRING_SOON']);
  });

  it('lists findings most urgent first and counts them by kind', async () => {
    const { accessReview } = (await review()).data;
    const kinds = accessReview.findings.edges.map((e: any) => e.node.kind);
    const order = ['CONSENT_TO_INACTIVE_AGENT', 'CREDENTIAL_PAST_ROTATION', 'OVER_PRIVILEGED', 'UNUSED', 'EXPIRING_SOON'];
    expect(kinds).toEqual([...kinds].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
    expect(accessReview.summary.map((s: any) => s.kind)).toEqual(order);
    for (const { kind, count } of accessReview.summary) expect(kinds.filter((k: string) => k === kind)).toHaveLength(count);
    expect(accessReview.findings.totalCount).toBe(kinds.length);
    expect(accessReview).toMatchObject({ unusedForDays: 90, rotationAgeDays: 90, expiringWithinDays: 14, complete: true, generatedAt: at(100).toISOString(), windowStart: at(10).toISOString() });
  });
});

describe('accessReview register', () => {
  it('lists every agent with owner, ceiling and status, a page at a time', async () => {
    const all = (await review()).data.accessReview;
    expect(all.register.totalCount).toBe(all.agentCount);
    const ids = all.register.edges.map((e: any) => e.node.agent.id);
    expect(ids).toEqual(expect.arrayContaining(Object.values(agents).map((a) => a.id)));
    expect(entryOf({ data: { accessReview: all } }, agents.suspended.id).agent).toMatchObject({ status: 'SUSPENDED', allowedScopes: ['orders:read'], owner: null });

    const paged: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = (await review({ first: 3, after })).data.accessReview.register;
      paged.push(...page.edges.map((e: any) => e.node.agent.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(paged).toEqual(ids);
  });

  it('lists the findings of one kind, counted, and every finding a page at a time', async () => {
    const FINDINGS = `query($kind: AccessFindingKind, $first: Int, $after: String) { accessReview {
      summary { kind count }
      findings(kind: $kind, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { kind agent { id } } } } } }`;
    const findings = async (variables: Record<string, unknown>) => (await graphql<any>(hub, FINDINGS, { token: admin, variables })).data.accessReview;
    const all = await findings({ first: 100 });
    const unused = await findings({ kind: 'UNUSED', first: 100 });
    expect(unused.findings.edges.map((e: any) => e.node.kind)).toEqual(all.findings.edges.map((e: any) => e.node.kind).filter((k: string) => k === 'UNUSED'));
    expect(unused.findings.totalCount).toBe(all.summary.find((s: any) => s.kind === 'UNUSED').count);
    expect(unused.findings.totalCount).toBeGreaterThan(0);
    expect(unused.findings.totalCount).toBeLessThan(all.findings.totalCount);

    const paged: unknown[] = [];
    let after: string | undefined;
    for (;;) {
      const page = (await findings({ first: 2, after })).findings;
      paged.push(...page.edges.map((e: any) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(paged).toEqual(all.findings.edges.map((e: any) => e.node));
  });

  it('records each review in the audit trail', async () => {
    await review({ days: 30 });
    await hub.services.audit.flush();
    const events = await hub.database.db.selectFrom('audit_events').select(['actor_kind', 'detail']).where('action', '=', 'access.reviewed').execute();
    expect(events.map((e) => (e.detail as { unusedForDays: number }).unusedForDays)).toContain(30);
    expect(events.every((e) => e.actor_kind === 'client')).toBe(true);
  });
});

describe('accessReview refusals', () => {
  it('refuses a caller without agents:admin, whatever other operator scopes it holds', async () => {
    const other = await clientToken(hub, OPERATOR_SCOPES.filter((scope) => scope !== 'agents:admin'));
    const refused = await review({}, other);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const user = await signUpUser(hub);
    expect((await review({}, user.accessToken)).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect((await review({}, '')).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('answers a client holding agents:admin alone', async () => {
    const reviewer = await review({}, await clientToken(hub, ['agents:admin']));
    expect(reviewer.errors).toBeUndefined();
    expect(reviewer.data.accessReview.agentCount).toBeGreaterThan(0);
  });

  it.each([
    [{ days: 0 }, 'unusedForDays', 'unusedForDays: must be from 1 to 365 days'],
    [{ days: 366 }, 'unusedForDays', 'unusedForDays: must be from 1 to 365 days'],
    [{ rotation: 0 }, 'rotationAgeDays', 'rotationAgeDays: must be from 1 to 3650 days'],
    [{ expiring: 366 }, 'expiringWithinDays', 'expiringWithinDays: must be from 1 to 365 days'],
    [{ first: 101 }, 'first', 'first: must be from 0 to 100'],
    [{ after: 'not-a-cursor' }, 'after', 'after: is not a cursor of this list'],
  ])('refuses %j as bad input', async (variables, field, message) => {
    const refused = await review(variables);
    expect(refused.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT', field } });
  });
});
