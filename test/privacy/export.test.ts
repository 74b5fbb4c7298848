import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { auditInTransaction, findAuditEvents, type AuditEventInput } from '../../src/audit/audit.service.js';
import { EXPORT_SCOPES } from '../../src/authz/privacy-access.js';
import { loadConfig } from '../../src/config.js';
import { EXPORT_FORMAT, exportUserData } from '../../src/privacy/export.service.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, postForm, signUpUser } from '../helpers/hub.js';
import { basic, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { agentReads, customer, exportOf, verifiedReceipt } from './privacy-fixtures.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
let admin: string;
/** An operator client for data subject requests: `users:admin` and the read scope of every data category. */
let desk: string;
let alice: Awaited<ReturnType<typeof customer>>;
let assistant: RegisteredAgent;
let delegated: Awaited<ReturnType<typeof agentReads>>;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  desk = await clientToken(hub, ['users:admin', ...EXPORT_SCOPES], 'agt_01J0000000000000000000DESK');
  alice = await customer(hub, { givenName: 'Alice', familyName: 'Liddell' }, clock.now());
  assistant = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
  delegated = await agentReads(hub, assistant, alice.accessToken);
});
afterAll(() => hub.close());

const refresh = (refreshToken: string, scope: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: refreshToken, scope });

describe('GET /users/:id/export', () => {
  it('hands the user everything: profile, masked cards, orders, consents with receipts and history, agents, access log', async () => {
    const response = await exportOf(hub, alice.id, alice.accessToken);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['content-disposition']).toBe(`attachment; filename="${alice.id}.json"`);
    expect(response.headers['cache-control']).toBe('no-store');
    const data = response.body;
    expect(Object.keys(data)).toEqual(['format', 'exportedAt', 'subject', 'profile', 'paymentMethods', 'orders', 'consents', 'connectedAgents', 'ownedAgents', 'approvals', 'sessions', 'accessLog', 'actions']);
    expect(data).toMatchObject({ format: EXPORT_FORMAT, exportedAt: '2031-03-01T09:00:00.000Z', subject: alice.id });
    expect(data.profile).toMatchObject({
      id: alice.id,
      status: 'active',
      email: alice.email,
      givenName: 'Alice',
      familyName: 'Liddell',
      phone: '+3545551234',
      birthdate: '1990-04-01',
      country: 'IS',
      address: { line1: '12 Laugavegur', city: 'Reykjavik', postalCode: '101', country: 'IS' },
      preferences: { channels: ['email'], interests: ['hiking'] },
    });
    // The profile as the API shows it, field for field: never the password's hash, nor the key of
    // the HMACs that name her payment entries.
    expect(Object.keys(data.profile).sort()).toEqual(
      ['address', 'birthdate', 'country', 'createdAt', 'email', 'emailVerified', 'familyName', 'givenName', 'id', 'lastLoginAt', 'locale', 'loyalty', 'phone', 'preferences', 'status', 'updatedAt'],
    );
    expect(data.paymentMethods).toEqual([{ id: `pm_${alice.id}`, brand: 'visa', last4: '4242', expMonth: 4, expYear: 2033, createdAt: expect.any(String) }]);
    expect(data.orders.map((o: any) => o.id)).toEqual([`ord_2_${alice.id}`, `ord_1_${alice.id}`]);
    expect(data.orders[0]).toEqual({ id: `ord_2_${alice.id}`, placedAt: '2031-02-27T09:00:00.000Z', totalMinor: 2_000, currency: 'EUR', status: 'PAID', lineItems: [] });

    expect(data.consents.map((c: any) => [c.purpose, c.agentId, c.status])).toEqual([
      ['email_marketing', null, 'ACTIVE'],
      ['support', assistant.id, 'ACTIVE'],
    ]);
    const support = data.consents[1];
    expect(support).toMatchObject({ id: delegated.consentId, scopes: ['orders:read', 'contact.email:read'], history: [{ kind: 'GIVEN', actor: { kind: 'user', id: alice.id } }] });
    const stored = await hub.services.db.selectFrom('consents').select('receipt').where('id', '=', delegated.consentId).executeTakeFirstOrThrow();
    expect(support.receipt).toBe(stored.receipt);
    expect(await verifiedReceipt(hub, support.receipt)).toMatchObject({ consentReceiptID: delegated.consentId, piiPrincipalId: alice.id, grantee: { agentId: assistant.id } });

    expect(data.connectedAgents).toEqual([expect.objectContaining({ id: assistant.id, name: 'Support assistant', kind: 'AI_AGENT', status: 'ACTIVE' })]);
    expect(data.ownedAgents).toEqual([]);
    expect(data.approvals).toEqual([]);
  });

  it('hands out the signed receipt of a withdrawal with its history event', async () => {
    const bob = await signUpUser(hub);
    const id = await giveConsent(hub, bob.accessToken, { purpose: 'personalization' });
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { withdrawalReceipt } }', { token: bob.accessToken, variables: { id } });
    const receipt = withdrawn.data.withdrawConsent.withdrawalReceipt;
    const { body } = await exportOf(hub, bob.id, bob.accessToken);
    expect(body.consents.map((c: any) => c.history.map((e: any) => [e.kind, e.detail, e.receipt]))).toEqual([
      [
        ['GIVEN', { scopes: [], agentId: null }, null],
        ['WITHDRAWN', { reason: 'withdrawn' }, receipt],
      ],
    ]);
    expect(await verifiedReceipt(hub, receipt)).toMatchObject({ consentReceiptID: id, piiPrincipalId: bob.id, consentStatus: 'withdrawn' });
  });

  it('hands over what was written as written, quotes, backslashes and line breaks in valid JSON', async () => {
    const ella = await signUpUser(hub);
    const name = 'Wool socks "size 9\\10"\nsecond line\u2028';
    await hub.services.db
      .insertInto('orders')
      .values({ id: `ord_q_${ella.id}`, user_id: ella.id, placed_at: clock.now(), total_minor: 100, currency: 'EUR', status: 'paid', line_items: JSON.stringify([{ sku: 'SKU-"1"', name, quantity: 1, unitPriceMinor: 100 }]) })
      .execute();
    const response = await hub.http.inject({ method: 'GET', url: `/users/${ella.id}/export`, headers: { authorization: `Bearer ${ella.accessToken}` } });
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body).orders[0].lineItems).toEqual([{ sku: 'SKU-"1"', name, quantity: 1, unitPriceMinor: 100 }]);
  });

  it('names in the access log which agent read which fields, for which purpose', async () => {
    const { body } = await exportOf(hub, alice.id, alice.accessToken);
    const reads = body.accessLog.filter((e: any) => e.action === 'profile.read' && e.actorChain[0] === assistant.id);
    expect(reads).toEqual([
      expect.objectContaining({
        actor: { kind: 'delegated', id: assistant.id },
        subjectUserId: alice.id,
        purpose: 'support',
        consentId: delegated.consentId,
        fieldsRead: ['email', 'orders'],
        fieldsDenied: [],
        decision: 'ALLOW',
      }),
    ]);
    const actions = body.accessLog.map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['user.signed_up', 'profile.updated', 'consent.given', 'token.exchanged', 'profile.read']));
    const times = body.accessLog.map((e: any) => e.occurredAt);
    expect(times).toEqual([...times].sort().reverse());
  });

  it('lists her sessions, one per refresh-token family, an agent’s offline access among them, and never a token', async () => {
    const response = await exportOf(hub, alice.id, alice.accessToken);
    expect(response.status).toBe(200);
    const { sessions } = response.body;
    // Her sign-up, the session she signed in to hand the agent, and the agent's offline access.
    expect(sessions).toHaveLength(3);
    expect(new Set(sessions.map((s: any) => s.familyId)).size).toBe(3);
    const frontend = sessions.filter((s: any) => s.clientId === 'hub-frontend');
    expect(frontend).toHaveLength(2);
    for (const session of frontend) expect(session).toMatchObject({ consentId: null, actorChain: [], authTime: '2031-03-01T09:00:00.000Z', revokedAt: null });
    const offline = sessions.find((s: any) => s.clientId === assistant.id);
    expect(offline).toEqual({
      familyId: expect.any(String),
      clientId: assistant.id,
      scope: 'orders:read contact.email:read',
      consentId: delegated.consentId,
      actorChain: [assistant.id],
      authTime: expect.any(String),
      startedAt: '2031-03-01T09:00:00.000Z',
      lastRefreshedAt: '2031-03-01T09:00:00.000Z',
      expiresAt: expect.any(String),
      revokedAt: null,
    });
    const text = JSON.stringify(response.body);
    for (const secret of [alice.refreshToken, delegated.refreshToken, delegated.subjectToken]) expect(text).not.toContain(secret);
  });

  it('shows a session the agent gave up as revoked, and a refreshed one still as one session', async () => {
    const carol = await signUpUser(hub);
    const reads = await agentReads(hub, assistant, carol.accessToken);
    const revoked = await postForm(hub, '/oauth/revoke', { token: reads.refreshToken }, basic(assistant));
    expect(revoked.status).toBe(200);
    const refreshed = await refresh(carol.refreshToken, EXPORT_SCOPES.join(' '));
    expect(refreshed.status).toBe(200);
    const { body } = await exportOf(hub, carol.id, refreshed.body.access_token);
    expect(body.sessions.map((s: any) => [s.clientId, s.revokedAt])).toEqual(
      expect.arrayContaining([
        ['hub-frontend', null],
        [assistant.id, '2031-03-01T09:00:00.000Z'],
      ]),
    );
    // Sign-up (refreshed once), the session handed to the agent, the agent's.
    expect(body.sessions).toHaveLength(3);
  });

  it('shows the agent’s offline access as revoked when the consent it stands on is withdrawn', async () => {
    const dora = await signUpUser(hub);
    const reads = await agentReads(hub, assistant, dora.accessToken);
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { withdrawnAt } }', { token: dora.accessToken, variables: { id: reads.consentId } });
    expect(withdrawn.data.withdrawConsent.withdrawnAt).toBe(clock.now().toISOString());
    const refreshed = await refresh(dora.refreshToken, EXPORT_SCOPES.join(' '));
    const { body } = await exportOf(hub, dora.id, refreshed.body.access_token);
    expect(body.sessions.filter((s: any) => s.consentId === reads.consentId).map((s: any) => [s.clientId, s.revokedAt])).toEqual([[assistant.id, withdrawn.data.withdrawConsent.withdrawnAt]]);
  });

  it('lists what she did about others in `actions`, which her access log does not hold, without naming them', async () => {
    const dora = await signUpUser(hub);
    const erin = await signUpUser(hub);
    const read = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { email } }', { token: dora.accessToken, variables: { id: erin.id } });
    expect(read.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await hub.services.audit.flush();
    const { body } = await exportOf(hub, dora.id, dora.accessToken);
    expect(body.actions).toEqual([
      expect.objectContaining({ action: 'profile.read', actor: { kind: 'user', id: dora.id }, subjectUserId: null, fieldsRead: [], fieldsDenied: [], decision: 'DENY', reason: 'NOT_SUBJECT' }),
    ]);
    expect(JSON.stringify(body)).not.toContain(erin.id);
    expect(body.accessLog.filter((e: any) => e.subjectUserId !== dora.id)).toEqual([]);
    // Alice acted about no one else: her own events are all in her access log.
    expect((await exportOf(hub, alice.id, alice.accessToken)).body.actions).toEqual([]);
  });

  it('is audited as data.exported, naming who asked and what went out', async () => {
    await exportOf(hub, alice.id, desk);
    await hub.services.audit.flush();
    const page = await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'data.exported' }, first: 10 });
    const [byOperator, byUser] = page.edges.map((e) => e.node);
    expect(byUser).toMatchObject({ actor: { kind: 'user', id: alice.id }, subjectUserId: alice.id, decision: 'ALLOW', detail: { format: EXPORT_FORMAT, complete: true, orders: 2, consents: 2, sessions: 3, actions: 0 } });
    expect(byOperator).toMatchObject({ actor: { kind: 'client' }, subjectUserId: alice.id, detail: { complete: true } });
    // What the person's accessLog shows of it: every field of the profile and every list.
    const lists = ['accessLog', 'actions', 'approvals', 'connectedAgents', 'consents', 'orders', 'ownedAgents', 'paymentMethods', 'sessions'];
    expect(byOperator!.fieldsRead).toEqual(expect.arrayContaining([...lists, 'email', 'phone', 'givenName', 'birthdate', 'address', 'preferences', 'loyalty', 'lastLoginAt', 'status']));
    const log = await graphql<any>(hub, '{ me { accessLog(first: 20) { edges { node { action actor { kind } fieldsRead } } } } }', { token: alice.accessToken });
    const shown = log.data.me.accessLog.edges.map((e: any) => e.node).find((e: any) => e.action === 'data.exported' && e.actor.kind === 'client');
    expect(shown.fieldsRead).toEqual(byOperator!.fieldsRead);
  });

  it('counts in data.exported how many of each list it handed over', async () => {
    const { body } = await exportOf(hub, alice.id, alice.accessToken);
    await hub.services.audit.flush();
    const page = await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'data.exported' }, first: 1 });
    const lists = ['paymentMethods', 'orders', 'consents', 'connectedAgents', 'ownedAgents', 'approvals', 'sessions', 'accessLog', 'actions'];
    expect(body.paymentMethods.length + body.connectedAgents.length).toBeGreaterThan(0);
    expect(page.edges[0]!.node.detail).toEqual({ format: EXPORT_FORMAT, complete: true, ...Object.fromEntries(lists.map((list) => [list, body[list].length])) });
  });

  it('is refused to everyone but the user and users:admin reading every data category', async () => {
    const bob = await signUpUser(hub);
    const reader = await clientToken(hub, ['profile:read', 'audit:read'], 'agt_01J0000000000000000000READ');
    expect(await exportOf(hub, alice.id)).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(await exportOf(hub, alice.id, 'not-a-token')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    for (const token of [bob.accessToken, delegated.token, reader, admin]) {
      const refused = await exportOf(hub, alice.id, token);
      expect(refused).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
      expect(refused.headers['www-authenticate']).toContain('insufficient_scope');
    }
    // users:admin alone reads no field of alice through GraphQL, nor, so, through her export.
    expect((await exportOf(hub, alice.id, admin)).headers['www-authenticate']).toContain(`scope="users:admin ${EXPORT_SCOPES.join(' ')}"`);
    const byOperator = await exportOf(hub, alice.id, desk);
    expect(byOperator.status).toBe(200);
    expect(byOperator.body.profile.email).toBe(alice.email);
    // Each refusal is in Alice's own audit trail, naming who asked.
    await hub.services.audit.flush();
    const refusals = await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'data.exported', decision: 'DENY' }, first: 10 });
    expect(refusals.edges.map((e) => [e.node.actor.kind, e.node.actor.id, e.node.reason]).reverse()).toEqual([
      ['user', bob.id, 'NOT_SUBJECT'],
      ['delegated', expect.any(String), 'NOT_SUBJECT'],
      ['client', 'agt_01J0000000000000000000READ', 'MISSING_SCOPE'],
      ['client', expect.any(String), 'MISSING_SCOPE'],
      ['client', expect.any(String), 'MISSING_SCOPE'],
    ]);
  });

  it('is refused to the user’s own token narrowed below every data category, naming the scopes it needs and showing nothing', async () => {
    const bea = await customer(hub, { givenName: 'Bea', familyName: 'Narrow' }, clock.now());
    const everyRead = await refresh(bea.refreshToken, EXPORT_SCOPES.join(' '));
    expect(everyRead.body.scope).toBe('profile:read contact:read identity:read address:read preferences:read orders:read payment:read loyalty:read');
    const whole = await exportOf(hub, bea.id, everyRead.body.access_token);
    expect(whole.status).toBe(200);
    expect(whole.body.profile).toMatchObject({ email: bea.email, phone: '+3545551234' });

    const profileOnly = await refresh(everyRead.body.refresh_token, 'profile:read');
    const refused = await exportOf(hub, bea.id, profileOnly.body.access_token);
    expect(refused).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
    expect(refused.headers['www-authenticate']).toContain(`error="insufficient_scope", scope="${EXPORT_SCOPES.join(' ')}"`);
    const shown = JSON.stringify(refused.body);
    for (const personal of [bea.email, '5551234', 'Laugavegur', '4242']) expect(shown).not.toContain(personal);
  });

  it('answers HEAD with the headers of the document and reads none of it: nothing left, so no export is audited', async () => {
    const dora = await customer(hub, { givenName: 'Dora', familyName: 'Head' }, clock.now());
    const head = (userId: string, token: string) => hub.http.inject({ method: 'HEAD', url: `/users/${userId}/export`, headers: { authorization: `Bearer ${token}` } });
    const answered = await head(dora.id, dora.accessToken);
    expect(answered.statusCode).toBe(200);
    expect(answered.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answered.headers['content-disposition']).toBe(`attachment; filename="${dora.id}.json"`);
    expect(answered.body).toBe('');
    expect(answered.headers['content-length']).toBeUndefined();
    expect((await head('usr_01J00000000000000000000000', desk)).statusCode).toBe(404);
    expect((await head(alice.id, dora.accessToken)).statusCode).toBe(403);
    // A document read to nowhere would be audited as soon as its last page was read: a few ms here.
    await sleep(500);
    await hub.services.audit.flush();
    const exported = await findAuditEvents(hub.services.db, { filter: { userId: dora.id, action: 'data.exported' }, first: 10 });
    expect(exported.edges).toEqual([]);
  });

  it('answers 400 for an id that is not a user id and 404 for a user that does not exist', async () => {
    expect(await exportOf(hub, 'agt_01J0000000000000000000READ', desk)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await exportOf(hub, 'usr_short', desk)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await exportOf(hub, `usr_${'x'.repeat(300)}`, desk)).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await exportOf(hub, 'usr_01J00000000000000000000000', desk)).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });
});

describe('a large export', () => {
  const ORDERS = 2_400;
  const EVENTS = 1_300;
  /** Past two pages of consents, each page read with its consents' history. */
  const CONSENTS = 250;
  /** Past a page of the events bob acted in about no one. */
  const ACTIONS = 600;
  let bob: Awaited<ReturnType<typeof signUpUser>>;

  beforeAll(async () => {
    bob = await signUpUser(hub);
    await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
      select 'ord_bulk_' || lpad(i::text, 5, '0'), ${bob.id}, ${clock.now()}::timestamptz - make_interval(mins => ${ORDERS} - i), 100 + i, 'EUR', 'delivered',
        '[{"sku":"SKU-1","name":"Wool socks","quantity":2,"unitPriceMinor":50}]'::jsonb
      from generate_series(1, ${ORDERS}) as i`.execute(hub.services.db);
    await sql`insert into consents (id, user_id, purpose, agent_id, scopes, status, given_at, withdrawn_at, collection_method, policy_version)
      select 'cns_bulk_' || lpad(i::text, 5, '0'), ${bob.id}, 'email_marketing', null, '{}', 'withdrawn', ${clock.now()}::timestamptz - make_interval(days => i), ${clock.now()}, 'sign_up_form', '1'
      from generate_series(1, ${CONSENTS}) as i`.execute(hub.services.db);
    const read = (i: number): AuditEventInput => ({
      action: 'profile.read',
      actor: { kind: 'delegated', id: assistant.id },
      actorChain: [assistant.id],
      subjectUserId: bob.id,
      purpose: 'support',
      fieldsRead: ['orders'],
      decision: 'ALLOW',
      occurredAt: new Date(clock.now().getTime() - (EVENTS - i) * 1_000),
    });
    await auditInTransaction(hub.services.db, Array.from({ length: EVENTS }, (_, i) => read(i)), clock.now());
    const refused = (i: number): AuditEventInput => ({
      action: 'audience.queried',
      actor: { kind: 'user', id: bob.id },
      subjectUserId: null,
      decision: 'DENY',
      reason: 'MISSING_SCOPE',
      occurredAt: new Date(clock.now().getTime() - (ACTIONS - i) * 1_000),
    });
    await auditInTransaction(hub.services.db, Array.from({ length: ACTIONS }, (_, i) => refused(i)), clock.now());
  });

  it('streams every order and event as one valid JSON document', async () => {
    const { status, body } = await exportOf(hub, bob.id, bob.accessToken);
    expect(status).toBe(200);
    expect(body.orders).toHaveLength(ORDERS);
    expect(body.orders[0].id).toBe('ord_bulk_00001');
    expect(body.orders.at(-1).id).toBe(`ord_bulk_0${ORDERS}`);
    expect(new Set(body.orders.map((o: any) => o.id)).size).toBe(ORDERS);
    expect(body.consents.map((c: any) => c.id)).toEqual(Array.from({ length: CONSENTS }, (_, i) => `cns_bulk_${String(i + 1).padStart(5, '0')}`));
    expect(body.accessLog.filter((e: any) => e.action === 'profile.read')).toHaveLength(EVENTS);
    expect(body.actions).toHaveLength(ACTIONS);
    expect(new Set(body.actions.map((e: any) => e.id)).size).toBe(ACTIONS);
  });

  it('comes out in chunks of one page, never the whole document at once', async () => {
    const chunks: string[] = [];
    for await (const chunk of await exportUserData(hub.services, { principal: { kind: 'anonymous' }, requestId: null }, bob.id)) chunks.push(chunk);
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    expect(JSON.parse(chunks.join('')).orders).toHaveLength(ORDERS);
    expect(chunks.length).toBeGreaterThan(ORDERS / 500 + EVENTS / 100);
    expect(Math.max(...chunks.map((chunk) => chunk.length))).toBeLessThan(total / 5);
    // Consents come a page of 5 at a time, as their history is read a page at a time: each may be
    // some 22 KB of export.
    expect(Math.max(...chunks.map((chunk) => chunk.match(/"id":"cns_bulk_/g)?.length ?? 0))).toBe(5);
  });

  it('hands over orders placed at the same instant once each, across pages', async () => {
    const carol = await signUpUser(hub);
    // Inserted last id first, so that the order they are stored in is not their keys'.
    await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
      select 'ord_tie_' || lpad(i::text, 4, '0'), ${carol.id}, ${clock.now()}, 100, 'EUR', 'paid', '[]'::jsonb
      from generate_series(600, 1, -1) as i`.execute(hub.services.db);
    const { body } = await exportOf(hub, carol.id, carol.accessToken);
    expect(body.orders.map((o: any) => o.id)).toEqual(Array.from({ length: 600 }, (_, i) => `ord_tie_${String(i + 1).padStart(4, '0')}`));
  });

  it('counts in data.exported every entry of every page it handed over', async () => {
    const { body } = await exportOf(hub, bob.id, bob.accessToken);
    expect(body.accessLog.length).toBeGreaterThan(EVENTS);
    await hub.services.audit.flush();
    const page = await findAuditEvents(hub.services.db, { filter: { userId: bob.id, action: 'data.exported' }, first: 10 });
    expect(page.edges.map((e) => e.node.detail)).toContainEqual(expect.objectContaining({ complete: true, orders: ORDERS, consents: CONSENTS, accessLog: body.accessLog.length }));
  });
});

describe('erasure as the export sees it', () => {
  it('answers 404 once the user is erased', async () => {
    const carol = await signUpUser(hub);
    const erased = await graphql<any>(hub, 'mutation($id: ID!) { eraseUser(id: $id) { userId } }', { token: admin, variables: { id: carol.id } });
    expect(erased.data.eraseUser.userId).toBe(carol.id);
    expect(await exportOf(hub, carol.id, desk)).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });
});
