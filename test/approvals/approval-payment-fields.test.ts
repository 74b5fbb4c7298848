import { beforeAll, describe, expect, it } from 'vitest';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { clientToken, graphql } from '../helpers/hub.js';
import { approvalWorld, type Response } from './approval-fixtures.js';

const { hub, alice, shopper, agentToken, request, approval } = await approvalWorld();

const CARD = { brand: 'visa', last4: '4242', expMonth: 12, expYear: 2033 };
const PAYMENT_FIELDS = ['amount', 'currency', 'creditorName', 'description', 'paymentMethodId', 'card', 'authorizationDetails'];
const FIELDS = `id status action ${PAYMENT_FIELDS.filter((f) => f !== 'card').join(' ')} card { brand last4 expMonth expYear }`;

/** `CODE/REASON` of each error, by the field it is on. */
const refusals = (response: Response) => Object.fromEntries((response.errors ?? []).map((e) => [e.path?.at(-1), `${e.extensions?.code}/${e.extensions?.reason}`]));

const byId = (approvals: { id: string }[]) => Object.fromEntries(approvals.map((a) => [a.id, a]));

let cardApproval: string;
let payApproval: string;
beforeAll(async () => {
  const token = await agentToken(shopper, alice);
  cardApproval = (await request(token, { action: 'ADD_PAYMENT_METHOD', paymentMethod: CARD })).data.requestApproval.id;
  payApproval = (await request(token, { action: 'PAY', payment: { amount: '10', currency: 'EUR', creditorName: 'Example Shop GmbH', description: 'Order 1' } })).data.requestApproval.id;
});

describe('the payment fields of an approval', () => {
  it('are null with MISSING_SCOPE for an operator holding users:admin and no payment read scope, in the list and by id', async () => {
    const token = await clientToken(hub, ['users:admin']);
    const listed = await graphql<any>(hub, `query($id: ID!) { user(id: $id) { approvals { ${FIELDS} } } }`, { token, variables: { id: alice.id } });
    const nothing = Object.fromEntries(PAYMENT_FIELDS.map((f) => [f, null]));
    expect(byId(listed.data.user.approvals)).toEqual({
      [payApproval]: { id: payApproval, status: 'PENDING', action: 'PAY', ...nothing },
      [cardApproval]: { id: cardApproval, status: 'PENDING', action: 'ADD_PAYMENT_METHOD', ...nothing },
    });
    expect(listed.errors).toHaveLength(2 * PAYMENT_FIELDS.length);
    expect(new Set(listed.errors!.map((e) => `${e.extensions?.code}/${e.extensions?.reason}`))).toEqual(new Set(['FORBIDDEN/MISSING_SCOPE']));

    const one = await approval(token, cardApproval);
    expect(one.data.approval).toMatchObject({ id: cardApproval, card: null, authorizationDetails: null });
    expect(refusals(one)).toEqual(Object.fromEntries(PAYMENT_FIELDS.map((f) => [f, 'FORBIDDEN/MISSING_SCOPE'])));
    // The body only: a request id (random hex) may hold 4242 too.
    expect(JSON.stringify({ data: one.data, errors: one.errors })).not.toMatch(/4242|visa/);
  });

  it('resolve for an operator with payment:read too', async () => {
    const token = await clientToken(hub, ['users:admin', 'payment:read']);
    const one = await approval(token, cardApproval);
    expect(one.errors).toBeUndefined();
    expect(one.data.approval).toMatchObject({ card: CARD, authorizationDetails: { type: 'payment_method', actions: ['add'], instrument: CARD } });
    const listed = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { approvals { id amount creditorName } } }', { token, variables: { id: alice.id } });
    expect(listed.errors).toBeUndefined();
    expect(byId(listed.data.user.approvals)[payApproval]).toEqual({ id: payApproval, amount: '10.00', creditorName: 'Example Shop GmbH' });
  });

  it('resolve for the user themself', async () => {
    const mine = await graphql<any>(hub, `{ me { approvals { ${FIELDS} } } }`, { token: alice.accessToken });
    expect(mine.errors).toBeUndefined();
    expect(byId(mine.data.me.approvals)[cardApproval]).toMatchObject({ card: CARD });
    expect(byId(mine.data.me.approvals)[payApproval]).toMatchObject({ amount: '10.00', description: 'Order 1' });
  });

  it('are decided for the agent that asked by its delegation for payment read', async () => {
    const writeOnly = await agentToken(shopper, alice, { purpose: 'checkout', scopes: ['payment:write'] });
    const asked = await request(writeOnly, { action: 'ADD_PAYMENT_METHOD', paymentMethod: CARD });
    expect(asked.data.requestApproval).toMatchObject({ status: 'PENDING', card: null, authorizationDetails: null });
    expect(refusals(asked)).toEqual(Object.fromEntries(PAYMENT_FIELDS.map((f) => [f, 'FORBIDDEN/MISSING_SCOPE'])));
    const reading = await agentToken(shopper, alice);
    const one = await approval(reading, cardApproval);
    expect(one.errors).toBeUndefined();
    expect(one.data.approval.card).toEqual(CARD);
  });

  it('are audited as paymentMethods denied, with the reason, in the user’s profile.read event', async () => {
    const token = await clientToken(hub, ['users:admin']);
    await graphql(hub, 'query($id: ID!) { approval(id: $id) { id card { last4 } } }', { token, variables: { id: cardApproval }, headers: { 'x-request-id': 'card-refused' } });
    await hub.services.audit.flush();
    const events = (await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'profile.read' }, first: 100 })).edges.map((e) => e.node);
    const refused = events.filter((e) => e.requestId === 'card-refused').map((e) => ({ fieldsRead: e.fieldsRead, fieldsDenied: e.fieldsDenied, reason: e.reason }));
    expect(refused).toEqual([{ fieldsRead: ['approvals'], fieldsDenied: ['paymentMethods'], reason: 'MISSING_SCOPE' }]);
  });
});
