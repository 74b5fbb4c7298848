import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

let hub: Hub;
let auditor: string;
beforeAll(async () => {
  hub = await startTestHub();
  auditor = await clientToken(hub, ['audit:read']);
});
afterAll(() => hub.close());

interface Event {
  action: string;
  actor: { kind: string; id: string | null };
  subjectUserId: string | null;
  clientId: string | null;
  fieldsRead: string[];
  fieldsDenied: string[];
  decision: string;
  reason: string | null;
  requestId: string | null;
}

const EVENTS = `query($filter: AuditFilter, $first: Int) { auditEvents(filter: $filter, first: $first) {
  edges { node { action actor { kind id } subjectUserId clientId fieldsRead fieldsDenied decision reason requestId } }
} }`;

async function eventsAbout(userId: string): Promise<Event[]> {
  await hub.services.audit.flush();
  const response = await graphql<any>(hub, EVENTS, { token: auditor, variables: { filter: { userId }, first: 100 } });
  expect(response.errors).toBeUndefined();
  return response.data.auditEvents.edges.map((e: any) => e.node).reverse();
}

describe('the audit trail of identity', () => {
  it('records sign-up, failed and good sign-ins, refresh, reuse and profile changes, in order', async () => {
    const user = await signUpUser(hub, { password: 'the right password for this one' });
    const signIn = (password: string) =>
      graphql(hub, 'mutation($i: SignInInput!) { signIn(input: $i) { accessToken } }', { variables: { i: { email: user.email, password } } });
    await signIn('not the right password, sorry');
    const session = await signIn('the right password for this one');
    await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: user.refreshToken });
    await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: user.refreshToken });
    // The reuse revoked the sign-up's family with its access tokens; the sign-in is another session.
    await graphql(hub, 'mutation { updateProfile(input: { givenName: "Ada", phone: "+447700900123" }) { id } }', { token: (session.data as any).signIn.accessToken });

    const events = await eventsAbout(user.id);
    expect(events.map((e) => [e.action, e.decision, e.reason])).toEqual([
      ['user.signed_up', 'ALLOW', null],
      ['user.sign_in_failed', 'DENY', 'WRONG_PASSWORD'],
      ['user.signed_in', 'ALLOW', null],
      ['token.refreshed', 'ALLOW', null],
      ['token.revoked', 'DENY', 'refresh token reused: family revoked'],
      ['profile.updated', 'ALLOW', null],
    ]);
    expect(events.every((e) => e.subjectUserId === user.id)).toBe(true);
    expect(events[0]!.actor).toEqual({ kind: 'user', id: user.id });
    expect(events[3]!.clientId).toBe('hub-frontend');
    expect(JSON.stringify(events)).not.toMatch(/password for this one|eyJ/);
  });

  it('records a read once per request and user, with the fields read and the fields denied', async () => {
    const user = await signUpUser(hub);
    const narrowed = await postForm(hub, '/oauth/token', {
      grant_type: 'refresh_token',
      client_id: 'hub-frontend',
      refresh_token: user.refreshToken,
      scope: 'profile:read contact.email:read',
    });
    const response = await graphql(hub, '{ me { id country email phone orders { edges { cursor } } } again: me { email } }', {
      token: narrowed.body.access_token,
      headers: { 'x-request-id': 'read-1' },
    });
    expect(response.errors?.map((e) => e.extensions?.reason)).toEqual(['MISSING_SCOPE', 'MISSING_SCOPE']);
    const reads = (await eventsAbout(user.id)).filter((e) => e.action === 'profile.read');
    expect(reads).toEqual([
      expect.objectContaining({
        actor: { kind: 'user', id: user.id },
        fieldsRead: ['country', 'email'],
        fieldsDenied: ['orders', 'phone'],
        decision: 'ALLOW',
        reason: 'MISSING_SCOPE',
        requestId: 'read-1',
      }),
    ]);
  });

  it('records reads of a user’s consents and connected agents in the same event, by the user or an operator', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const operator = await clientToken(hub, ['users:admin', 'consents:admin'], 'agt_01J0000000000000000000CNST');
    const query = `{ user(id: "${user.id}") { consents { purpose { key } } connectedAgents { scopes } } }`;
    for (const [token, requestId] of [[user.accessToken, 'consents-1'], [operator, 'consents-2']] as const) {
      const response = await graphql<any>(hub, query, { token, headers: { 'x-request-id': requestId } });
      expect(response.data.user).toEqual({ consents: [{ purpose: { key: 'email_marketing' } }], connectedAgents: [] });
    }
    const reads = (await eventsAbout(user.id)).filter((e) => e.action === 'profile.read');
    expect(reads).toEqual([
      expect.objectContaining({ actor: { kind: 'user', id: user.id }, fieldsRead: ['connectedAgents', 'consents'], fieldsDenied: [], decision: 'ALLOW', requestId: 'consents-1' }),
      expect.objectContaining({ actor: { kind: 'client', id: 'agt_01J0000000000000000000CNST' }, fieldsRead: ['connectedAgents', 'consents'], fieldsDenied: [], decision: 'ALLOW', requestId: 'consents-2' }),
    ]);
  });

  it('records a read of one consent by id in its user’s profile.read event, by the user or an operator', async () => {
    const user = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const operator = await clientToken(hub, ['consents:admin'], 'agt_01J0000000000000000000CNST');
    for (const [token, requestId] of [[user.accessToken, 'consent-1'], [operator, 'consent-2']] as const) {
      const response = await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { status } }', { token, variables: { id: consentId }, headers: { 'x-request-id': requestId } });
      expect(response.data.consent).toEqual({ status: 'ACTIVE' });
    }
    const reads = (await eventsAbout(user.id)).filter((e) => e.action === 'profile.read');
    expect(reads).toEqual([
      expect.objectContaining({ actor: { kind: 'user', id: user.id }, fieldsRead: ['consents'], decision: 'ALLOW', requestId: 'consent-1' }),
      expect.objectContaining({ actor: { kind: 'client', id: 'agt_01J0000000000000000000CNST' }, fieldsRead: ['consents'], decision: 'ALLOW', requestId: 'consent-2' }),
    ]);
  });

  it('records a refused read of a user’s consents, connected agents or one consent by id in the user’s profile.read event', async () => {
    const user = await signUpUser(hub);
    const other = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const usersOnly = await clientToken(hub, ['users:admin'], 'agt_01J0000000000000000000NOCN');
    const lists = await graphql<any>(hub, `{ user(id: "${user.id}") { id consents { id } connectedAgents { scopes } } }`, { token: usersOnly, headers: { 'x-request-id': 'lists-refused' } });
    expect(lists.data.user).toEqual({ id: user.id, consents: null, connectedAgents: null });
    expect(lists.errors?.map((e: any) => e.extensions.reason)).toEqual(['MISSING_SCOPE', 'MISSING_SCOPE']);
    const one = await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { status } }', { token: other.accessToken, variables: { id: consentId }, headers: { 'x-request-id': 'one-refused' } });
    expect(one.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });

    const reads = (await eventsAbout(user.id)).filter((e) => e.action === 'profile.read');
    expect(reads).toEqual([
      expect.objectContaining({ actor: { kind: 'client', id: 'agt_01J0000000000000000000NOCN' }, fieldsRead: [], fieldsDenied: ['connectedAgents', 'consents'], decision: 'DENY', reason: 'MISSING_SCOPE', requestId: 'lists-refused' }),
      expect.objectContaining({ actor: { kind: 'user', id: other.id }, fieldsRead: [], fieldsDenied: ['consents'], decision: 'DENY', reason: 'NOT_SUBJECT', requestId: 'one-refused' }),
    ]);
    // In the other's own trail only as the trail reader's read of their actions just now.
    expect((await eventsAbout(other.id)).map((e) => [e.action, e.fieldsRead])).toEqual([
      ['user.signed_up', []],
      ['profile.read', ['actions']],
    ]);
  });

  it('records a refused withdrawal of a consent in its user’s trail, as a refused read of it is', async () => {
    const user = await signUpUser(hub);
    const other = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const usersOnly = await clientToken(hub, ['users:admin'], 'agt_01J0000000000000000000NOCN');
    const withdraw = (token: string, id: string, requestId: string) =>
      graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token, variables: { id }, headers: { 'x-request-id': requestId } });
    expect((await withdraw(other.accessToken, consentId, 'withdraw-refused')).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    expect((await withdraw(usersOnly, consentId, 'withdraw-unscoped')).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    // An id that names no consent is refused alike, and names no one to record it for.
    expect((await withdraw(other.accessToken, 'cns_01J000000000000000000NOONE', 'withdraw-none')).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });

    const refused = (await eventsAbout(user.id)).filter((e) => e.action === 'consent.withdrawn');
    expect(refused).toEqual([
      expect.objectContaining({ actor: { kind: 'user', id: other.id }, subjectUserId: user.id, decision: 'DENY', reason: 'NOT_SUBJECT', requestId: 'withdraw-refused' }),
      expect.objectContaining({ actor: { kind: 'client', id: 'agt_01J0000000000000000000NOCN' }, subjectUserId: user.id, decision: 'DENY', reason: 'MISSING_SCOPE', requestId: 'withdraw-unscoped' }),
    ]);
    const stored = await hub.services.db.selectFrom('audit_events').select('consent_id').where('action', '=', 'consent.withdrawn').where('subject_user_id', '=', user.id).execute();
    expect(stored).toEqual([{ consent_id: consentId }, { consent_id: consentId }]);
    const none = await hub.services.db.selectFrom('audit_events').select('id').where('request_id', '=', 'withdraw-none').execute();
    expect(none).toEqual([]);
  });

  it('records a read or refusal of a user’s status in their profile.read event, as of every other field of theirs', async () => {
    const user = await signUpUser(hub);
    const usersAdmin = await clientToken(hub, ['users:admin'], 'agt_01J0000000000000000000STAT');
    const read = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { status } }', { token: usersAdmin, variables: { id: user.id }, headers: { 'x-request-id': 'status-read' } });
    expect(read.data.user).toEqual({ status: 'ACTIVE' });
    const own = await graphql<any>(hub, '{ me { email status } }', { token: user.accessToken, headers: { 'x-request-id': 'status-refused' } });
    expect(own.errors?.map((e: any) => e.extensions.reason)).toEqual(['MISSING_SCOPE']);

    const reads = (await eventsAbout(user.id)).filter((e) => e.action === 'profile.read');
    expect(reads).toEqual([
      expect.objectContaining({ actor: { kind: 'client', id: 'agt_01J0000000000000000000STAT' }, fieldsRead: ['status'], fieldsDenied: [], decision: 'ALLOW', requestId: 'status-read' }),
      expect.objectContaining({ actor: { kind: 'user', id: user.id }, fieldsRead: ['email'], fieldsDenied: ['status'], decision: 'ALLOW', reason: 'MISSING_SCOPE', requestId: 'status-refused' }),
    ]);
  });

  it('records nothing for a change that fails', async () => {
    const user = await signUpUser(hub);
    const response = await graphql(hub, 'mutation { updateProfile(input: { givenName: "Ada", phone: "nope" }) { id } }', { token: user.accessToken });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await eventsAbout(user.id)).map((e) => e.action)).toEqual(['user.signed_up']);
  });

  it('records an unknown account and a refused refresh token on the hub chain, without the email', async () => {
    await graphql(hub, 'mutation { signIn(input: { email: "ghost@example.com", password: "whatever it may be" }) { accessToken } }');
    await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: 'forged' });
    await hub.services.audit.flush();
    const response = await graphql<any>(hub, EVENTS, { token: auditor, variables: { filter: { decision: 'DENY' }, first: 100 } });
    const reasons = response.data.auditEvents.edges.map((e: any) => [e.node.action, e.node.subjectUserId, e.node.reason]);
    expect(reasons).toEqual(expect.arrayContaining([
      ['user.sign_in_failed', null, 'UNKNOWN_ACCOUNT'],
      ['token.refused', null, 'invalid_grant: unknown refresh token'],
    ]));
    expect(JSON.stringify(response)).not.toContain('ghost@example.com');
  });
});

describe('reading the trail', () => {
  it('shows a user their own access log, newest first, and no one else theirs', async () => {
    const alice = await signUpUser(hub);
    const bob = await signUpUser(hub);
    await graphql(hub, '{ me { email } }', { token: alice.accessToken });
    await hub.services.audit.flush();
    const own = await graphql<any>(hub, '{ me { accessLog(first: 10) { edges { node { action fieldsRead subjectUserId } } } } }', { token: alice.accessToken });
    const actions = own.data.me.accessLog.edges.map((e: any) => e.node);
    expect(actions[0]).toEqual({ action: 'profile.read', fieldsRead: ['email'], subjectUserId: alice.id });
    expect(actions.every((e: any) => e.subjectUserId === alice.id)).toBe(true);

    const other = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { accessLog { edges { cursor } } } }', { token: bob.accessToken, variables: { id: alice.id } });
    expect(other.data.user).toBeNull();
    expect(other.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
  });

  it('keeps an agent acting for the user out of their access log, whatever its consent covers', async () => {
    const alice = await signUpUser(hub);
    const agent = await registerAgent(hub, await operatorToken(hub), { allowedScopes: ['contact:read'] });
    await giveConsent(hub, alice.accessToken, { agentId: agent.id, scopes: ['contact:read'] });
    const exchanged = await exchange(hub, agent, (await signIn(hub, alice)).accessToken);
    expect(exchanged.status).toBe(200);
    const log = await graphql<any>(hub, '{ me { id email accessLog { edges { cursor } } } }', { token: exchanged.body.access_token });
    expect(log.data.me).toEqual({ id: alice.id, email: alice.email, accessLog: null });
    expect(log.errors?.map((e) => [e.path?.join('.'), e.extensions])).toEqual([['me.accessLog', { code: 'FORBIDDEN', reason: 'NOT_SUBJECT' }]]);
  });

  it('keeps a user out of the access log of a user signed up in the same request', async () => {
    const caller = await signUpUser(hub);
    const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { user { id accessLog { edges { cursor } } } } }';
    const input = { email: `trail-${Date.now()}@example.com`, password: 'correct horse battery staple 42' };
    const response = await graphql<any>(hub, SIGN_UP, { token: caller.accessToken, variables: { input } });
    expect(response.data.signUp.user.accessLog).toBeNull();
    expect(response.errors?.map((e) => [e.path?.join('.'), e.extensions])).toEqual([['signUp.user.accessLog', { code: 'FORBIDDEN', reason: 'NOT_SUBJECT' }]]);
  });

  it('keeps an operator without audit:read out of the trail, and out of access logs', async () => {
    const alice = await signUpUser(hub);
    const admin = await clientToken(hub, ['users:admin', 'profile:read']);
    expect((await graphql(hub, EVENTS, { token: admin })).errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const log = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { id accessLog { edges { cursor } } } }', { token: admin, variables: { id: alice.id } });
    expect(log.data.user).toEqual({ id: alice.id, accessLog: null });
    expect(log.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    await hub.services.audit.flush();
    const trail = await hub.services.db.selectFrom('audit_events').select(['action', 'fields_denied', 'reason']).where('subject_user_id', '=', alice.id).where('decision', '=', 'deny').execute();
    expect(trail).toEqual([{ action: 'profile.read', fields_denied: ['accessLog'], reason: 'NOT_SUBJECT' }]);
  });

  it('records what audit:read is shown in the trail of each person an event is about or was done by', async () => {
    const alice = await signUpUser(hub);
    const bob = await signUpUser(hub);
    // About Alice, done by Bob: in her access log, and among his actions.
    await graphql(hub, 'query($id: ID!) { user(id: $id) { email } }', { token: bob.accessToken, variables: { id: alice.id } });
    await hub.services.audit.flush();
    const reader = await clientToken(hub, ['audit:read'], 'agt_01J0000000000000000000TRLR');
    const shown = await graphql<any>(hub, EVENTS, { token: reader, variables: { filter: { userId: alice.id }, first: 100 }, headers: { 'x-request-id': 'trail-read' } });
    expect(shown.data.auditEvents.edges.map((e: any) => [e.node.action, e.node.actor.id])).toEqual([
      ['profile.read', bob.id],
      ['user.signed_up', alice.id],
    ]);
    await hub.services.audit.flush();
    const reads = await hub.services.db
      .selectFrom('audit_events')
      .select(['subject_user_id', 'fields_read', 'request_id'])
      .where('action', '=', 'profile.read')
      .where('actor_id', '=', 'agt_01J0000000000000000000TRLR')
      .execute();
    expect(Object.fromEntries(reads.map((r) => [r.subject_user_id, [r.fields_read, r.request_id]]))).toEqual({
      [alice.id]: [['accessLog'], 'trail-read'],
      [bob.id]: [['actions'], 'trail-read'],
    });
  });

  it('filters by action and decision for audit:read', async () => {
    await hub.services.audit.flush();
    const response = await graphql<any>(hub, EVENTS, { token: auditor, variables: { filter: { action: 'user.signed_up', decision: 'ALLOW' }, first: 100 } });
    const nodes = response.data.auditEvents.edges.map((e: any) => e.node);
    expect(nodes.length).toBeGreaterThan(3);
    expect(nodes.every((n: Event) => n.action === 'user.signed_up' && n.decision === 'ALLOW')).toBe(true);
  });

  it('refuses a filter that can match nothing, naming its field, rather than answering an empty page', async () => {
    for (const [filter, field] of [
      [{ action: 'user.signedup' }, 'filter.action'],
      [{ from: '2026-02-01T00:00:00Z', to: '2025-02-01T00:00:00Z' }, 'filter.to'],
    ] as const) {
      const response = await graphql<any>(hub, EVENTS, { token: auditor, variables: { filter, first: 5 } });
      expect(response.errors?.[0]?.extensions, JSON.stringify(filter)).toEqual({ code: 'BAD_USER_INPUT', field });
    }
  });
});
