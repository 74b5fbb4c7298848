import { beforeAll, describe, expect, it } from 'vitest';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { MAX_PAYMENT_METHODS } from '../../src/identity/identity.service.js';
import { graphql } from '../helpers/hub.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

const { hub, alice, bob, admin, shopper, agentToken, request, answerAfresh, addCard, changeCard } = await approvalWorld();

const CARD = { brand: 'visa', last4: '4242', expMonth: 12, expYear: 2033 };
const RENEWED = { brand: 'visa', last4: '4242', expMonth: 6, expYear: 2036 };
const paymentMethods = async () => (await graphql<any>(hub, '{ me { paymentMethods { id brand last4 expMonth expYear } } }', { token: alice.accessToken })).data.me.paymentMethods;

let token: string;
beforeAll(async () => {
  token = await agentToken(shopper, alice);
});

async function approved(input: Record<string, unknown>) {
  const asked = await request(token, input);
  if (!asked.data?.requestApproval) throw new Error(`requestApproval failed: ${JSON.stringify(asked.errors)}`);
  await answerAfresh(alice, 'approve', asked.data.requestApproval.id);
  return asked.data.requestApproval;
}

describe('adding a payment method', () => {
  let methodId: string;

  it('is refused without an approval, and nothing is written', async () => {
    expect(refusal(await addCard(token, CARD))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect(await paymentMethods()).toEqual([]);
  });

  it('asks for approval of the masked card as a payment_method entry', async () => {
    const asked = await approved({ action: 'ADD_PAYMENT_METHOD', paymentMethod: CARD });
    expect(asked).toMatchObject({
      action: 'ADD_PAYMENT_METHOD',
      amount: null,
      currency: null,
      card: CARD,
      paymentMethodId: null,
      authorizationDetails: { type: 'payment_method', actions: ['add'], instrument: CARD },
    });
  });

  it('refuses a different card, and writes nothing', async () => {
    expect(refusal(await addCard(token, { ...CARD, last4: '4243' }))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect(refusal(await addCard(token, { ...CARD, brand: 'mastercard' }))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect(await paymentMethods()).toEqual([]);
  });

  it('writes the approved card to the user’s profile, once', async () => {
    const response = await addCard(token, CARD);
    expect(response.errors).toBeUndefined();
    methodId = response.data.addPaymentMethod.id;
    expect(response.data.addPaymentMethod).toEqual({ id: expect.stringMatching(/^pm_/), ...CARD });
    expect(await paymentMethods()).toEqual([{ id: methodId, ...CARD }]);
    expect(refusal(await addCard(token, CARD))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect(await paymentMethods()).toHaveLength(1);
  });

  it('changes that method only with an approval naming it and the new card', async () => {
    const asked = await approved({ action: 'CHANGE_PAYMENT_METHOD', paymentMethodId: methodId, paymentMethod: RENEWED });
    expect(asked.authorizationDetails).toEqual({ type: 'payment_method', actions: ['change'], identifier: methodId, instrument: RENEWED });
    expect(refusal(await addCard(token, RENEWED))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect(refusal(await changeCard(token, { id: methodId, paymentMethod: CARD }))).toBe('FORBIDDEN/APPROVAL_REQUIRED');

    const changed = await changeCard(token, { id: methodId, paymentMethod: RENEWED });
    expect(changed.data.changePaymentMethod).toEqual({ id: methodId, ...RENEWED });
    expect(await paymentMethods()).toEqual([{ id: methodId, ...RENEWED }]);
    expect(refusal(await changeCard(token, { id: methodId, paymentMethod: RENEWED }))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
  });

  it('records each use with the payment method it wrote', async () => {
    await hub.services.audit.flush();
    const used = await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'approval.used' }, first: 100 });
    expect(used.edges.map((e) => e.node.detail).map(({ action, paymentMethodId }) => ({ action, paymentMethodId }))).toEqual([
      { action: 'CHANGE_PAYMENT_METHOD', paymentMethodId: methodId },
      { action: 'ADD_PAYMENT_METHOD', paymentMethodId: methodId },
    ]);
  });

  it('leaves the approval unused when the method is gone by the time of the change', async () => {
    const asked = await approved({ action: 'CHANGE_PAYMENT_METHOD', paymentMethodId: methodId, paymentMethod: CARD });
    await hub.services.db.deleteFrom('payment_methods').where('id', '=', methodId).execute();
    const response = await changeCard(token, { id: methodId, paymentMethod: CARD });
    expect(response.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const state = await graphql<any>(hub, 'query($id: ID!) { approval(id: $id) { status usedAt } }', { token: alice.accessToken, variables: { id: asked.id } });
    expect(state.data.approval).toEqual({ status: 'APPROVED', usedAt: null });
  });

  it('lists the user’s approvals by state, for the user and users:admin', async () => {
    const query = '{ user(id: "ID") { approvals(status: USED) { action } all: approvals { action } } }'.replace('ID', alice.id);
    for (const token of [alice.accessToken, admin]) {
      const response = await graphql<any>(hub, query, { token });
      expect(response.data.user.approvals).toEqual([{ action: 'CHANGE_PAYMENT_METHOD' }, { action: 'ADD_PAYMENT_METHOD' }]);
      expect(response.data.user.all.map((a: any) => a.action)).toEqual(['CHANGE_PAYMENT_METHOD', 'CHANGE_PAYMENT_METHOD', 'ADD_PAYMENT_METHOD']);
    }
    const asAgent = await graphql<any>(hub, '{ me { approvals { id } } }', { token });
    expect(refusal(asAgent)).toBe('FORBIDDEN/NOT_SUBJECT');
  });
});

describe('the payment methods a user may hold', () => {
  /** Cards added to alice's profile without an approval, as earlier additions would have left them. */
  const holdCards = (count: number, from: number) =>
    hub.services.db
      .insertInto('payment_methods')
      .values(Array.from({ length: count }, (_, i) => ({ id: `pm_held${from + i}`, user_id: alice.id, brand: 'visa', last4: String(1000 + from + i), exp_month: 1, exp_year: 2034, created_at: new Date() })))
      .execute();

  it(`leaves an approved addition unused once the user holds ${MAX_PAYMENT_METHODS}`, async () => {
    await holdCards(MAX_PAYMENT_METHODS - 1, 0);
    const asked = await approved({ action: 'ADD_PAYMENT_METHOD', paymentMethod: CARD });
    // Another addition completes between the approval and its use.
    await holdCards(1, MAX_PAYMENT_METHODS - 1);
    const response = await addCard(token, CARD);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(response.errors?.[0]?.message).toContain(`holds ${MAX_PAYMENT_METHODS} payment methods`);
    expect(await paymentMethods()).toHaveLength(MAX_PAYMENT_METHODS);
    const state = await graphql<any>(hub, 'query($id: ID!) { approval(id: $id) { status usedAt } }', { token: alice.accessToken, variables: { id: asked.id } });
    expect(state.data.approval).toEqual({ status: 'APPROVED', usedAt: null });
  });

  it('refuses to ask the user to approve an addition past them, and stores no approval', async () => {
    const before = await hub.services.db.selectFrom('approvals').select('id').where('user_id', '=', alice.id).execute();
    const response = await request(token, { action: 'ADD_PAYMENT_METHOD', paymentMethod: { ...CARD, last4: '4343' } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(await hub.services.db.selectFrom('approvals').select('id').where('user_id', '=', alice.id).execute()).toEqual(before);
  });

  it('counts only the user’s own: another user still asks for, and makes, an addition', async () => {
    const forBob = await agentToken(shopper, bob);
    const asked = await request(forBob, { action: 'ADD_PAYMENT_METHOD', paymentMethod: CARD });
    expect(asked.errors).toBeUndefined();
    await answerAfresh(bob, 'approve', asked.data.requestApproval.id);
    expect((await addCard(forBob, CARD)).data.addPaymentMethod).toMatchObject(CARD);
  });

  it('still changes one of them', async () => {
    await approved({ action: 'CHANGE_PAYMENT_METHOD', paymentMethodId: 'pm_held0', paymentMethod: RENEWED });
    const changed = await changeCard(token, { id: 'pm_held0', paymentMethod: RENEWED });
    expect(changed.data.changePaymentMethod).toEqual({ id: 'pm_held0', ...RENEWED });
    expect(await paymentMethods()).toHaveLength(MAX_PAYMENT_METHODS);
  });
});
