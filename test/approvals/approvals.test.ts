import { createHash, createHmac } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { findAuditEvents, type AuditEvent } from '../../src/audit/audit.service.js';
import { APPROVAL_MAX_AUTH_AGE_SECONDS } from '../../src/authz/approval-access.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { auditOf, type Approval } from '../../src/consent/approval.service.js';
import { graphql, postForm, signUpUser } from '../helpers/hub.js';
import { basic, operatorCredentials } from '../helpers/oauth.js';
import { START, approvalWorld, refusal } from './approval-fixtures.js';

const world = await approvalWorld();
const { hub, clock, admin, alice, bob, shopper, rival, agentToken, request, answer, signIn, answerAfresh, approval, pay, approvedPayment } = world;

const PAYMENT = { amount: '123.5', currency: 'EUR', creditorName: 'Example Shop GmbH', description: 'Order 4711' };
const ENTRY = {
  type: 'payment_initiation',
  actions: ['initiate'],
  instructedAmount: { currency: 'EUR', amount: '123.50' },
  creditorName: 'Example Shop GmbH',
  remittanceInformationUnstructured: 'Order 4711',
};

/** The session of Alice's that she handed the shopping assistant for its token exchange. */
let handed: string;
let token: string;
beforeAll(async () => {
  handed = (await signIn(alice)).accessToken;
  token = await agentToken(shopper, alice, undefined, handed);
});

describe('an agent paying for its user', () => {
  let approvalId: string;

  it('is refused with APPROVAL_REQUIRED before it has any approval', async () => {
    const response = await pay(token, PAYMENT);
    expect(response.data).toBeNull();
    expect(refusal(response)).toBe('FORBIDDEN/APPROVAL_REQUIRED');
  });

  it('asks for an approval, stored as one RFC 9396 authorization_details entry', async () => {
    const response = await request(token, { action: 'PAY', payment: PAYMENT });
    expect(response.errors).toBeUndefined();
    approvalId = response.data.requestApproval.id;
    expect(response.data.requestApproval).toEqual({
      id: expect.stringMatching(/^apr_[0-9A-Z]{26}$/),
      status: 'PENDING',
      action: 'PAY',
      amount: '123.50',
      currency: 'EUR',
      creditorName: 'Example Shop GmbH',
      description: 'Order 4711',
      paymentMethodId: null,
      card: null,
      authorizationDetails: ENTRY,
      user: { id: alice.id },
      agent: { id: shopper.id },
      createdAt: START,
      expiresAt: '2031-03-01T09:05:00.000Z',
      decidedAt: null,
      usedAt: null,
    });
  });

  it('shows the user what waits for an answer, and the agent its own request', async () => {
    const mine = await graphql<any>(hub, '{ me { approvals(status: PENDING) { id action amount currency description } } }', { token: alice.accessToken });
    expect(mine.data.me.approvals).toEqual([{ id: approvalId, action: 'PAY', amount: '123.50', currency: 'EUR', description: 'Order 4711' }]);
    expect((await approval(token, approvalId)).data.approval.status).toBe('PENDING');
    const rivalToken = await agentToken(rival, alice);
    expect(refusal(await approval(rivalToken, approvalId))).toBe('FORBIDDEN/NOT_SUBJECT');
    expect(refusal(await approval(bob.accessToken, approvalId))).toBe('FORBIDDEN/NOT_SUBJECT');
  });

  it('is refused while the approval is pending', async () => {
    expect(refusal(await pay(token, PAYMENT))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
  });

  it('cannot have the approval answered by the agent itself, an operator or another user', async () => {
    expect(refusal(await answer(token, 'approve', approvalId))).toBe('FORBIDDEN/MISSING_SCOPE');
    expect(refusal(await answer(admin, 'approve', approvalId))).toBe('FORBIDDEN/MISSING_SCOPE');
    expect(refusal(await answer(bob.accessToken, 'approve', approvalId))).toBe('FORBIDDEN/NOT_SUBJECT');
    expect((await approval(alice.accessToken, approvalId)).data.approval.status).toBe('PENDING');
  });

  it('cannot have it approved with the user’s own token the agent was handed for the token exchange', async () => {
    // The token exchange (RFC 8693) hands the agent the user's access token as subject_token, and
    // this one's sign-in is not even older than the request: the token check refuses it outright.
    const selfApproved = await answer(handed, 'approve', approvalId);
    expect(selfApproved.status).toBe(401);
    expect(selfApproved.data?.approve ?? null).toBeNull();
    expect(refusal(selfApproved)).toBe('UNAUTHENTICATED/');
    expect((await approval(token, approvalId)).data.approval.status).toBe('PENDING');
    expect(refusal(await pay(token, PAYMENT))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
  });

  it('asks the user to sign in again unless they signed in after the request, within the last 5 minutes', async () => {
    const start = clock.now();
    try {
      const before = await signIn(alice);
      clock.advance(1);
      const asked = await request(token, { action: 'PAY', payment: { ...PAYMENT, description: 'Order 4799' }, expiresInSeconds: 900 });
      const id = asked.data.requestApproval.id;
      const stale = await answer(before.accessToken, 'approve', id);
      expect(refusal(stale)).toBe('UNAUTHENTICATED/');
      expect(stale.errors![0]!.message).toMatch(/sign in again, then answer within 5 minutes/);
      const after = await signIn(alice);
      clock.advance(APPROVAL_MAX_AUTH_AGE_SECONDS + 1);
      expect(refusal(await answer(after.accessToken, 'deny', id))).toBe('UNAUTHENTICATED/');
      expect((await approval(token, id)).data.approval.status).toBe('PENDING');
      expect((await answerAfresh(alice, 'deny', id)).data.deny.status).toBe('DENIED');
    } finally {
      clock.set(start);
    }
  });

  it('is approved by the user, signed in again after the request, and the audit trail says when they signed in', async () => {
    clock.advance(10);
    const response = await answerAfresh(alice, 'approve', approvalId);
    expect(response.data.approve).toMatchObject({ status: 'APPROVED', decidedAt: '2031-03-01T09:00:10.000Z', usedAt: null });
    const answered = (await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'approval.answered' }, first: 100 })).edges.map((e) => e.node);
    expect(answered.find((event) => event.detail.approvalId === approvalId)?.detail).toMatchObject({ answer: 'approved', authTime: '2031-03-01T09:00:10.000Z' });
  });

  it.each([
    ['a different amount', { ...PAYMENT, amount: '123.51' }],
    ['a different currency', { ...PAYMENT, currency: 'USD' }],
    ['a different creditor', { ...PAYMENT, creditorName: 'Other Shop' }],
    ['a different reference', { ...PAYMENT, description: 'Order 4712' }],
    ['no reference', { amount: PAYMENT.amount, currency: PAYMENT.currency, creditorName: PAYMENT.creditorName }],
  ])('refuses a payment with %s, and the approval stays unused', async (_what, payment) => {
    expect(refusal(await pay(token, payment))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect((await approval(token, approvalId)).data.approval.status).toBe('APPROVED');
  });

  it('refuses another agent of the same user', async () => {
    const rivalToken = await agentToken(rival, alice);
    expect(refusal(await pay(rivalToken, PAYMENT))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect((await approval(token, approvalId)).data.approval.status).toBe('APPROVED');
  });

  it('refuses the same agent acting for another user', async () => {
    const forBob = await agentToken(shopper, bob);
    expect(refusal(await pay(forBob, PAYMENT))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect((await approval(token, approvalId)).data.approval.status).toBe('APPROVED');
  });

  let paymentToken: string;
  it('succeeds once with the approval, for the same amount however it is written', async () => {
    clock.advance(5);
    const response = await pay(token, { ...PAYMENT, amount: '123.50' });
    expect(response.errors).toBeUndefined();
    expect(response.data.authorizePayment).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 90,
      authorizationDetails: [ENTRY],
      approval: { id: approvalId, status: 'USED', usedAt: '2031-03-01T09:00:15.000Z' },
    });
    paymentToken = response.data.authorizePayment.accessToken;
  });

  it('refuses the second use of the approval', async () => {
    expect(refusal(await pay(token, PAYMENT))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
  });

  it('hands out a token that verifies with jose against /jwks.json and carries exactly the approved entry', async () => {
    const jwks = createLocalJWKSet(JSON.parse((await hub.http.inject({ method: 'GET', url: '/jwks.json' })).body));
    const { payload, protectedHeader } = await jwtVerify(paymentToken, jwks, {
      issuer: hub.config.issuer,
      audience: `${hub.config.issuer}/payments`,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      currentDate: clock.now(),
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toEqual({
      iss: hub.config.issuer,
      aud: `${hub.config.issuer}/payments`,
      sub: alice.id,
      client_id: shopper.id,
      act: { sub: shopper.id },
      consent_id: expect.stringMatching(/^cns_/),
      purpose: 'checkout',
      scope: 'payment:write',
      // The agent's token, then the user's session it was exchanged from.
      delegated_from: [{ jti: expect.any(String) }, { jti: expect.any(String), sid: expect.any(String) }],
      authorization_details: [ENTRY],
      jti: expect.any(String),
      iat: Date.parse(START) / 1_000 + 15,
      exp: Date.parse(START) / 1_000 + 15 + 90,
    });
  });

  it('records the use with the approval and the token it handed out, so a payment the commerce API took is traced to its approval', async () => {
    await hub.services.audit.flush();
    const used = (await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'approval.used' }, first: 100 })).edges.map((e) => e.node);
    const { jti, exp } = decodeJwt(paymentToken);
    expect(used.map((e) => e.detail)).toEqual([
      { approvalId, action: 'PAY', entryHmac: expect.stringMatching(/^[0-9a-f]{64}$/), jti, expiresAt: new Date(exp! * 1_000).toISOString() },
    ]);
  });

  it('does not let the payment token stand in for an access token at the hub', async () => {
    expect((await graphql(hub, '{ me { id } }', { token: paymentToken })).status).toBe(401);
  });

  it('answers introspection with the authorization_details, and active: false once the token expired', async () => {
    const asAgent = await postForm(hub, '/oauth/introspect', { token: paymentToken }, basic(shopper));
    expect(asAgent.body).toMatchObject({ active: true, sub: alice.id, client_id: shopper.id, scope: 'payment:write', purpose: 'checkout', act: { sub: shopper.id }, authorization_details: [ENTRY], aud: `${hub.config.issuer}/payments` });
    const asOperator = await postForm(hub, '/oauth/introspect', { token: paymentToken }, basic(operatorCredentials(hub)));
    expect(asOperator.body).toMatchObject({ active: true, authorization_details: [ENTRY] });
    expect((await postForm(hub, '/oauth/introspect', { token: paymentToken }, basic(rival))).body).toEqual({ active: false });
    // The operator's answer showed Alice's approved payment: a read of it in her trail, as approval(id) is; the holder's and the inactive one none.
    await hub.services.audit.flush();
    const reads = await hub.database.db.selectFrom('audit_events').select(['actor_id', 'fields_read', 'detail']).where('subject_user_id', '=', alice.id)
      .where('action', '=', 'profile.read').where(sql<boolean>`detail->>'endpoint' = 'introspect'`).orderBy('occurred_at').orderBy('id').execute();
    const detail = { endpoint: 'introspect', heldBy: shopper.id, consentId: asAgent.body.consent_id, jti: asAgent.body.jti };
    expect(reads).toEqual([
      { actor_id: operatorCredentials(hub).clientId, fields_read: ['approvals', 'paymentMethods'], detail },
    ]);
    const now = clock.now();
    clock.advance(91);
    try {
      expect((await postForm(hub, '/oauth/introspect', { token: paymentToken }, basic(shopper))).body).toEqual({ active: false });
    } finally {
      clock.set(now);
    }
  });
});

describe('approvals that cannot be used', () => {
  const payment = { amount: '9.99', currency: 'EUR', creditorName: 'Coffee Roasters' };

  it('refuses a denied approval, which can no longer be approved', async () => {
    const asked = await request(token, { action: 'PAY', payment });
    const id = asked.data.requestApproval.id;
    expect((await answerAfresh(alice, 'deny', id)).data.deny).toMatchObject({ status: 'DENIED', decidedAt: clock.now().toISOString() });
    expect(refusal(await pay(token, payment))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    const again = await answerAfresh(alice, 'approve', id);
    expect(refusal(again)).toBe('BAD_USER_INPUT/');
    expect(again.errors![0]!.message).toMatch(/is DENIED/);
  });

  it('refuses an approval past its expiry, and the user can no longer answer one', async () => {
    const start = clock.now();
    try {
      const used = await request(token, { action: 'PAY', payment, expiresInSeconds: 60 });
      const unanswered = await request(token, { action: 'PAY', payment, expiresInSeconds: 60 });
      expect(used.data.requestApproval.expiresAt).toBe(new Date(start.getTime() + 60_000).toISOString());
      await answerAfresh(alice, 'approve', used.data.requestApproval.id);
      clock.advance(60);
      expect(refusal(await pay(token, payment))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
      expect((await approval(alice.accessToken, used.data.requestApproval.id)).data.approval.status).toBe('EXPIRED');
      const late = await answerAfresh(alice, 'approve', unanswered.data.requestApproval.id);
      expect(refusal(late)).toBe('BAD_USER_INPUT/');
      expect(late.errors![0]!.message).toMatch(/is EXPIRED/);
    } finally {
      clock.set(start);
    }
  });

  it('lets exactly one of two concurrent uses succeed', async () => {
    const concurrent = { amount: '50', currency: 'EUR', creditorName: 'Race Shop' };
    await approvedPayment(token, alice, concurrent);
    const results = await Promise.all([pay(token, concurrent), pay(token, concurrent)]);
    const outcomes = results.map((r) => (r.data?.authorizePayment ? 'paid' : refusal(r))).sort();
    expect(outcomes).toEqual(['FORBIDDEN/APPROVAL_REQUIRED', 'paid']);
  });

  it('uses one approval per payment when the user approved the same payment twice', async () => {
    const twice = { amount: '5', currency: 'EUR', creditorName: 'Bakery' };
    await approvedPayment(token, alice, twice);
    await approvedPayment(token, alice, twice);
    expect((await pay(token, twice)).data.authorizePayment.approval.status).toBe('USED');
    expect((await pay(token, twice)).data.authorizePayment.approval.status).toBe('USED');
    expect(refusal(await pay(token, twice))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
  });
});

describe('an approval bound to the consent it was asked under', () => {
  it('cannot be used under a consent the user gave afresh', async () => {
    const bound = { amount: '20', currency: 'EUR', creditorName: 'Bookshop' };
    const id = await approvedPayment(token, alice, bound);
    const renewed = await agentToken(shopper, alice);
    expect((await graphql(hub, '{ me { id } }', { token })).status).toBe(401);
    expect(refusal(await pay(renewed, bound))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect((await approval(alice.accessToken, id)).data.approval.status).toBe('APPROVED');
  });
});

describe('who may ask', () => {
  it('refuses an agent whose token and consent carry no payment write scope', async () => {
    const helperToken = await agentToken(world.helper, alice, { purpose: 'support', scopes: ['orders:read', 'contact.email:read'] });
    const response = await request(helperToken, { action: 'PAY', payment: { amount: '1', currency: 'EUR', creditorName: 'Shop' } });
    expect(response.data).toBeNull();
    expect(refusal(response)).toBe('FORBIDDEN/MISSING_SCOPE');
    expect(refusal(await pay(helperToken, { amount: '1', currency: 'EUR', creditorName: 'Shop' }))).toBe('FORBIDDEN/MISSING_SCOPE');
  });

  it('refuses an agent whose checkout consent allows only reading payment methods', async () => {
    const readOnly = await agentToken(world.helper, bob, { purpose: 'checkout', scopes: ['payment:read'] });
    expect(refusal(await request(readOnly, { action: 'PAY', payment: { amount: '1', currency: 'EUR', creditorName: 'Shop' } }))).toBe('FORBIDDEN/MISSING_SCOPE');
  });

  it('refuses the user themself, an operator and an anonymous caller', async () => {
    const input = { action: 'PAY', payment: { amount: '1', currency: 'EUR', creditorName: 'Shop' } };
    expect(refusal(await request(alice.accessToken, input))).toBe('FORBIDDEN/MISSING_SCOPE');
    expect(refusal(await request(admin, input))).toBe('FORBIDDEN/MISSING_SCOPE');
    const anonymous = await graphql<any>(hub, 'mutation($input: RequestApprovalInput!) { requestApproval(input: $input) { id } }', { variables: { input } });
    expect(refusal(anonymous)).toBe('UNAUTHENTICATED/');
  });
});

describe('the audit trail', () => {
  it('shows each approval requested, answered, used, and each payment refused', async () => {
    await hub.services.audit.flush();
    const response = await graphql<any>(
      hub,
      'query($f: AuditFilter) { auditEvents(first: 100, filter: $f) { edges { node { action decision reason actor { kind id } actorChain subjectUserId consentId } } } }',
      { token: admin, variables: { f: { userId: alice.id } } },
    );
    const events = response.data.auditEvents.edges.map((e: any) => e.node).filter((e: any) => /^(approval|payment)\./.test(e.action));
    const byAction = (action: string) => events.filter((e: any) => e.action === action);
    expect(byAction('approval.requested')[0]).toMatchObject({ decision: 'ALLOW', actor: { kind: 'delegated', id: shopper.id }, actorChain: [shopper.id], subjectUserId: alice.id, consentId: expect.stringMatching(/^cns_/) });
    expect(byAction('approval.answered')[0]).toMatchObject({ decision: 'ALLOW', actor: { kind: 'user', id: alice.id } });
    expect(byAction('approval.used')[0]).toMatchObject({ decision: 'ALLOW', actor: { kind: 'delegated', id: shopper.id } });
    expect(byAction('payment.refused')).toContainEqual(expect.objectContaining({ decision: 'DENY', reason: 'APPROVAL_REQUIRED', subjectUserId: alice.id }));
    expect(byAction('approval.used')).toHaveLength(4);
    expect(byAction('approval.answered').length).toBeGreaterThanOrEqual(6);
  });

  it('records a payment refused before it runs (here for want of payment write scope), with its action but not the entry', async () => {
    const readOnly = await agentToken(world.helper, bob, { purpose: 'checkout', scopes: ['payment:read'] });
    const payment = { amount: '5', currency: 'EUR', creditorName: 'Shop' };
    expect(refusal(await pay(readOnly, payment))).toBe('FORBIDDEN/MISSING_SCOPE');
    await hub.services.audit.flush();
    const refused = (await findAuditEvents(hub.services.db, { filter: { userId: bob.id, action: 'payment.refused' }, first: 100 })).edges.map((e) => e.node);
    expect(refused.filter((event) => event.reason === 'MISSING_SCOPE' && event.detail.step === undefined)).toEqual([
      expect.objectContaining({
        actor: { kind: 'delegated', id: world.helper.id },
        decision: 'DENY',
        detail: { action: 'PAY' },
      }),
    ]);
  });

  it('records a request for approval refused before it runs, marked as a request, with its action but not the entry', async () => {
    const carol = await signUpUser(hub);
    const readOnly = await agentToken(world.helper, carol, { purpose: 'checkout', scopes: ['payment:read'] });
    const payment = { amount: '7', currency: 'EUR', creditorName: 'Shop', description: 'Asked without the scope' };
    expect(refusal(await request(readOnly, { action: 'PAY', payment }))).toBe('FORBIDDEN/MISSING_SCOPE');
    expect(refusal(await request(readOnly, { action: 'PAY' }))).toBe('FORBIDDEN/MISSING_SCOPE');
    await hub.services.audit.flush();
    const refused = (await findAuditEvents(hub.services.db, { filter: { userId: carol.id, action: 'payment.refused' }, first: 100 })).edges.map((e) => e.node);
    // Newest first.
    expect(refused.map((event) => ({ actor: event.actor, reason: event.reason, detail: event.detail }))).toEqual([
      { actor: { kind: 'delegated', id: world.helper.id }, reason: 'MISSING_SCOPE', detail: { action: 'PAY', step: 'request' } },
      { actor: { kind: 'delegated', id: world.helper.id }, reason: 'MISSING_SCOPE', detail: { action: 'PAY', step: 'request' } },
    ]);
  });

  it('records each read of the user’s approvals in the user’s profile.read event, whoever reads them', async () => {
    const read = async (token: string, requestId: string, query: string, variables?: Record<string, unknown>) => {
      const response = await graphql<any>(hub, query, { token, variables, headers: { 'x-request-id': requestId } });
      expect(response.errors).toBeUndefined();
      return response.data;
    };
    const listed = await read(admin, 'list-by-operator', 'query($id: ID!) { user(id: $id) { approvals(first: 1) { id action } } }', { id: alice.id });
    const one = 'query($id: ID!) { approval(id: $id) { status action } }';
    await read(admin, 'one-by-operator', one, { id: listed.user.approvals[0].id });
    await read(alice.accessToken, 'list-by-user', '{ me { approvals { id } } }');
    await hub.services.audit.flush();

    const response = await graphql<any>(
      hub,
      'query($f: AuditFilter) { auditEvents(first: 100, filter: $f) { edges { node { actor { kind id } fieldsRead fieldsDenied decision requestId } } } }',
      { token: admin, variables: { f: { userId: alice.id, action: 'profile.read' } } },
    );
    const reads = response.data.auditEvents.edges.map((e: any) => e.node).filter((e: any) => /-by-/.test(e.requestId));
    const operator = { kind: 'client', id: operatorCredentials(hub).clientId };
    expect(reads.sort((a: any, b: any) => a.requestId.localeCompare(b.requestId))).toEqual([
      { actor: operator, fieldsRead: ['approvals'], fieldsDenied: [], decision: 'ALLOW', requestId: 'list-by-operator' },
      { actor: { kind: 'user', id: alice.id }, fieldsRead: ['approvals'], fieldsDenied: [], decision: 'ALLOW', requestId: 'list-by-user' },
      { actor: operator, fieldsRead: ['approvals'], fieldsDenied: [], decision: 'ALLOW', requestId: 'one-by-operator' },
    ]);
  });

  it('records each refused read of the user’s approvals in the user’s profile.read event, with the reason', async () => {
    const refused = async (token: string, requestId: string, query: string, variables?: Record<string, unknown>) => {
      const response = await graphql<any>(hub, query, { token, variables, headers: { 'x-request-id': requestId } });
      return refusal(response);
    };
    const mine = await graphql<any>(hub, '{ me { approvals(first: 1) { id } } }', { token: alice.accessToken });
    const one = 'query($id: ID!) { approval(id: $id) { description } }';
    const id = mine.data.me.approvals[0].id;
    expect(await refused(bob.accessToken, 'one-refused-to-user', one, { id })).toBe('FORBIDDEN/NOT_SUBJECT');
    expect(await refused(await agentToken(rival, alice), 'one-refused-to-agent', one, { id })).toBe('FORBIDDEN/NOT_SUBJECT');
    expect(await refused(await agentToken(rival, alice), 'list-refused-to-agent', '{ me { approvals { id } } }')).toBe('FORBIDDEN/NOT_SUBJECT');
    expect(await refused(bob.accessToken, 'unknown-refused', one, { id: 'apr_01J00000000000000000000000' })).toBe('FORBIDDEN/NOT_SUBJECT');
    await hub.services.audit.flush();

    const reads = (await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'profile.read' }, first: 100 })).edges
      .map((e) => e.node)
      .filter((e) => /-refused/.test(e.requestId ?? ''));
    expect(reads.map((e) => ({ actor: e.actor.kind, fieldsRead: e.fieldsRead, fieldsDenied: e.fieldsDenied, decision: e.decision, reason: e.reason, requestId: e.requestId })).reverse()).toEqual([
      { actor: 'user', fieldsRead: [], fieldsDenied: ['approvals'], decision: 'DENY', reason: 'NOT_SUBJECT', requestId: 'one-refused-to-user' },
      { actor: 'delegated', fieldsRead: [], fieldsDenied: ['approvals'], decision: 'DENY', reason: 'NOT_SUBJECT', requestId: 'one-refused-to-agent' },
      { actor: 'delegated', fieldsRead: [], fieldsDenied: ['approvals'], decision: 'DENY', reason: 'NOT_SUBJECT', requestId: 'list-refused-to-agent' },
    ]);
  });
});

describe('what the audit trail keeps of an approval', () => {
  /** ENTRY in canonical JSON (RFC 8785): keys sorted at every depth, no whitespace. */
  const CANONICAL_ENTRY =
    '{"actions":["initiate"],"creditorName":"Example Shop GmbH","instructedAmount":{"amount":"123.50","currency":"EUR"},"remittanceInformationUnstructured":"Order 4711","type":"payment_initiation"}';
  const ENTRY_SHA256 = createHash('sha256').update(CANONICAL_ENTRY).digest('hex');
  /** HMAC-SHA256 of the canonical entry under `key`, hex. */
  const entryHmac = (key: Uint8Array) => createHmac('sha256', key).update(CANONICAL_ENTRY).digest('hex');

  it('names the entry by its action and an HMAC of its canonical form under the user’s key: the same for its refusal, request, answer and use', async () => {
    const events: AuditEvent[] = [];
    for (const action of ['payment.refused', 'approval.requested', 'approval.answered', 'approval.used']) {
      events.push(...(await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action }, first: 100 })).edges.map((e) => e.node));
    }
    expect(events.length).toBeGreaterThan(10);
    expect(JSON.stringify(events)).not.toMatch(/Example Shop|Order 4711|instructedAmount/);
    expect(JSON.stringify(events)).not.toContain(ENTRY_SHA256);
    // A refusal in the transaction of the use names the entry; one before the action ran (here
    // for want of scope) names the action alone.
    const inUse = (e: AuditEvent) => e.action !== 'payment.refused' || e.reason === 'APPROVAL_REQUIRED';
    for (const { action, detail } of events.filter(inUse)) expect(detail, action).toMatchObject({ action: expect.any(String), entryHmac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    for (const { reason, detail } of events.filter((e) => !inUse(e))) expect({ reason, entryHmac: detail.entryHmac }).toEqual({ reason: 'MISSING_SCOPE', entryHmac: undefined });
    const { entry_hmac_key: key } = await hub.services.db.selectFrom('users').select('entry_hmac_key').where('id', '=', alice.id).executeTakeFirstOrThrow();
    expect(key).toHaveLength(32);
    const ofEntry = events.filter((e) => e.detail.entryHmac === entryHmac(key!)).map((e) => e.action);
    expect(new Set(ofEntry)).toEqual(new Set(['payment.refused', 'approval.requested', 'approval.answered', 'approval.used']));
  });

  it('builds each event from the approval id and that HMAC alone, not counting on the audit scrubber to drop the entry', () => {
    const approved: Approval = {
      id: 'apr_1',
      userId: alice.id,
      agentId: shopper.id,
      consentId: 'cns_1',
      authorizationDetails: JSON.parse(CANONICAL_ENTRY),
      status: 'approved',
      createdAt: new Date(START),
      expiresAt: new Date(START),
      decidedAt: new Date(START),
      usedAt: null,
    };
    const key = Buffer.alloc(32, 7);
    const event = auditOf('approval.answered', { approval: approved, entryHmacKey: key }, { principal: ANONYMOUS, requestId: null }, { answer: 'approved' });
    expect(event.detail).toEqual({ approvalId: 'apr_1', action: 'PAY', entryHmac: entryHmac(key), answer: 'approved' });
    // An approval asked for before its user had a key: the action alone.
    const unkeyed = auditOf('approval.answered', { approval: approved, entryHmacKey: null }, { principal: ANONYMOUS, requestId: null }, { answer: 'approved' });
    expect(unkeyed.detail).toEqual({ approvalId: 'apr_1', action: 'PAY', answer: 'approved' });
  });
});

describe('a payment token after it is issued', () => {
  /** A fresh payment token of the shopping agent for Bob. */
  async function paymentTokenForBob(): Promise<string> {
    const forBob = await agentToken(shopper, bob);
    await approvedPayment(forBob, bob, PAYMENT);
    const paid = await pay(forBob, PAYMENT);
    expect(paid.errors).toBeUndefined();
    return paid.data.authorizePayment.accessToken;
  }
  const introspect = async (token: string) => (await postForm(hub, '/oauth/introspect', { token }, basic(shopper))).body;

  it('is revoked at /oauth/revoke (RFC 7009) by the agent it was issued to, and by no other client', async () => {
    const paymentToken = await paymentTokenForBob();
    expect(await postForm(hub, '/oauth/revoke', { token: paymentToken }, basic(rival))).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect(await introspect(paymentToken)).toMatchObject({ active: true, sub: bob.id });
    expect((await postForm(hub, '/oauth/revoke', { token: paymentToken }, basic(shopper))).status).toBe(200);
    expect(await introspect(paymentToken)).toEqual({ active: false });
    expect((await postForm(hub, '/oauth/introspect', { token: paymentToken }, basic(operatorCredentials(hub)))).body).toEqual({ active: false });
  });

  it('is inactive while its user is suspended', async () => {
    const paymentToken = await paymentTokenForBob();
    const setStatus = (status: 'active' | 'suspended') => hub.services.db.updateTable('users').set({ status }).where('id', '=', bob.id).execute();
    await setStatus('suspended');
    try {
      expect(await introspect(paymentToken)).toEqual({ active: false });
    } finally {
      await setStatus('active');
    }
    expect(await introspect(paymentToken)).toMatchObject({ active: true });
  });
});
