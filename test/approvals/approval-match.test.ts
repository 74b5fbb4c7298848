import { describe, expect, it } from 'vitest';
import { graphql, signUpUser } from '../helpers/hub.js';
import { exchange, operatorToken, registerAgent } from '../helpers/oauth.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

// Which approval a use takes: one of the agent that asked, in force now, for exactly the action.

const { hub, clock, admin, agentToken, approvedPayment, pay, request, answerAfresh, addCard } = await approvalWorld();
const PAYMENT_SCOPES = ['payment:read', 'payment:write'];

describe('an approval asked by a sub-agent under its parent’s consent', () => {
  it('is used by that sub-agent alone, which cannot use its parent’s either', async () => {
    const carol = await signUpUser(hub);
    const parent = await registerAgent(hub, admin, { name: 'Orchestrator', allowedScopes: PAYMENT_SCOPES });
    const child = await registerAgent(hub, admin, { name: 'Checkout worker', allowedScopes: PAYMENT_SCOPES, parentAgentId: parent.id });
    const parentToken = await agentToken(parent, carol);
    const childToken = (await exchange(hub, child, parentToken)).body.access_token as string;
    const ofParent = { amount: '20', currency: 'EUR', creditorName: 'Parent Shop' };
    const ofChild = { amount: '30', currency: 'EUR', creditorName: 'Child Shop' };
    await approvedPayment(parentToken, carol, ofParent);
    await approvedPayment(childToken, carol, ofChild);

    expect(refusal(await pay(childToken, ofParent))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect(refusal(await pay(parentToken, ofChild))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect((await pay(childToken, ofChild)).data.authorizePayment.approval.status).toBe('USED');
    expect((await pay(parentToken, ofParent)).data.authorizePayment.approval.status).toBe('USED');
  });
});

describe('an approval for the same payment as one that expired', () => {
  it('is used while it is in force, though the older one was approved first', async () => {
    const dave = await signUpUser(hub);
    const agent = await registerAgent(hub, admin, { name: 'Shopping assistant', allowedScopes: PAYMENT_SCOPES });
    const token = await agentToken(agent, dave);
    const payment = { amount: '7', currency: 'EUR', creditorName: 'Florist' };
    await approvedPayment(token, dave, payment, { expiresInSeconds: 30 });
    clock.advance(1);
    const lasting = await approvedPayment(token, dave, payment, { expiresInSeconds: 300 });
    clock.advance(30);

    const paid = await pay(token, payment);
    expect(paid.errors).toBeUndefined();
    expect(paid.data.authorizePayment.approval).toMatchObject({ id: lasting, status: 'USED' });
  });
});

describe('the approvals of several users, read in one request', () => {
  it('are each user’s own, though one statement loads them all', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Errand assistant', allowedScopes: PAYMENT_SCOPES });
    const [erin, frank] = [await signUpUser(hub), await signUpUser(hub)];
    const ofErin = await approvedPayment(await agentToken(agent, erin), erin, { amount: '5', currency: 'EUR', creditorName: 'Bakery' });
    const ofFrank = await approvedPayment(await agentToken(agent, frank), frank, { amount: '6', currency: 'EUR', creditorName: 'Bookshop' });

    const query = 'query($e: ID!, $f: ID!) { erin: user(id: $e) { approvals { id } } frank: user(id: $f) { approvals { id } } }';
    const listed = await graphql<any>(hub, query, { token: admin, variables: { e: erin.id, f: frank.id } });
    expect(listed.errors).toBeUndefined();
    expect(listed.data).toEqual({ erin: { approvals: [{ id: ofErin }] }, frank: { approvals: [{ id: ofFrank }] } });
  });
});

describe('a user’s approvals listed by status', () => {
  it('are those in that status at the read, as each shows its own: an approval past its expiry is EXPIRED, approved or not', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Listing assistant', allowedScopes: PAYMENT_SCOPES });
    const gina = await signUpUser(hub);
    const token = await agentToken(agent, gina);
    const ask = async (creditorName: string, expiresInSeconds: number) =>
      (await request(token, { action: 'PAY', payment: { amount: '1', currency: 'EUR', creditorName }, expiresInSeconds })).data.requestApproval.id as string;
    const lapsedPending = await ask('Lapsed pending', 30);
    const lapsedApproved = await approvedPayment(token, gina, { amount: '1', currency: 'EUR', creditorName: 'Lapsed approved' }, { expiresInSeconds: 30 });
    clock.advance(31);
    const pending = await ask('Pending', 300);
    const approved = await approvedPayment(token, gina, { amount: '1', currency: 'EUR', creditorName: 'Approved' });
    const denied = await ask('Denied', 300);
    expect((await answerAfresh(gina, 'deny', denied)).data.deny.status).toBe('DENIED');
    const used = await approvedPayment(token, gina, { amount: '1', currency: 'EUR', creditorName: 'Used' });
    expect((await pay(token, { amount: '1', currency: 'EUR', creditorName: 'Used' })).data.authorizePayment.approval.id).toBe(used);

    const expected = { PENDING: [pending], APPROVED: [approved], DENIED: [denied], USED: [used], EXPIRED: [lapsedApproved, lapsedPending] };
    for (const [status, ids] of Object.entries(expected)) {
      const listed = await graphql<any>(hub, `query($id: ID!) { user(id: $id) { approvals(status: ${status}) { id status } } }`, { token: admin, variables: { id: gina.id } });
      expect(listed.data.user.approvals, status).toEqual(ids.map((id) => ({ id, status })));
    }
  });
});

describe('a card approved in the last minutes of its expiry month', () => {
  it('is refused once the month has turned, nothing stored and the approval unused', async () => {
    clock.set('2032-12-31T23:57:00.000Z');
    const agent = await registerAgent(hub, await operatorToken(hub), { name: 'Wallet assistant', allowedScopes: PAYMENT_SCOPES });
    const hana = await signUpUser(hub);
    const token = await agentToken(agent, hana);
    const lastMonth = { brand: 'visa', last4: '4242', expMonth: 12, expYear: 2032 };
    const asked = await request(token, { action: 'ADD_PAYMENT_METHOD', paymentMethod: lastMonth });
    expect(asked.errors).toBeUndefined();
    expect((await answerAfresh(hana, 'approve', asked.data.requestApproval.id)).data.approve.status).toBe('APPROVED');

    clock.advance(5 * 60);
    const added = await addCard(token, lastMonth);
    expect(added.errors?.[0]).toMatchObject({ message: 'input.expYear: the card has expired', extensions: { code: 'BAD_USER_INPUT', field: 'input.expYear' } });
    expect(await hub.services.db.selectFrom('payment_methods').select('id').where('user_id', '=', hana.id).execute()).toEqual([]);
    expect((await hub.services.db.selectFrom('approvals').select('status').where('id', '=', asked.data.requestApproval.id).executeTakeFirstOrThrow()).status).toBe('approved');
  });
});
