import { approvalAuth } from '../authz/approval-access.js';
import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { PaymentMethodRef } from '../identity/order.schema.js';
import type { ApprovalAction, AuthorizationDetail } from './approval.details.js';
import { ApprovalRef, callerOf, PaymentInput, PaymentMethodInput } from './approval.schema.js';
import { addPaymentMethod, authorizePayment, changePaymentMethod, type PaymentAuthorization } from './approval.payment.service.js';

// The agent's payment actions: each is done only by using an approval of exactly that action
// (FORBIDDEN/APPROVAL_REQUIRED without one), and only by an agent the `paymentAgent` decision allows.

const PaymentAuthorizationRef = builder.objectRef<PaymentAuthorization>('PaymentAuthorization').implement({
  description: 'An approved payment: a short-lived token for the commerce API that takes it (RFC 9396 §9).',
  fields: (t) => ({
    accessToken: t.exposeString('accessToken', {
      description: 'A JWT (typ at+jwt) signed with the hub’s key, verifiable against /jwks.json, carrying `authorization_details`; its aud is the hub’s issuer followed by /payments.',
    }),
    tokenType: t.string({ resolve: () => 'Bearer' }),
    expiresIn: t.exposeInt('expiresIn', { description: 'Seconds the token lives.' }),
    authorizationDetails: t.field({ type: ['JSONObject'], description: 'The RFC 9396 entries the token carries.', resolve: (p) => p.authorizationDetails as AuthorizationDetail[] }),
    approval: t.field({ type: ApprovalRef, description: 'The approval used, now USED.', resolve: (p) => p.approval }),
  }),
});

const ChangePaymentMethodInput = builder.inputType('ChangePaymentMethodInput', {
  fields: (t) => ({
    id: t.id({ required: true, description: 'The payment method to change.' }),
    paymentMethod: t.field({ type: PaymentMethodInput, required: true, description: 'The card it becomes.' }),
  }),
});

/**
 * The `authScopes` and `unauthorizedError` of the payment mutation doing `action`: the
 * `paymentAgent` decision; a refusal is audited with the action alone (`RefusedPaymentDetail`).
 */
const paymentAgent = (action: ApprovalAction) => ({
  authScopes: (_root: unknown, _args: unknown, ctx: Context) => approvalAuth.paymentAgent(ctx),
  unauthorizedError: (_root: unknown, _args: unknown, ctx: Context) => approvalAuth.paymentRefusal(ctx, { action }),
});

/** `changePaymentMethod`'s input as the service takes it: the method's id as a string. */
const changeInput = (input: { id: string | number; paymentMethod: unknown }) => ({ ...input, id: String(input.id) });

builder.mutationFields((t) => ({
  addPaymentMethod: t.field({
    type: PaymentMethodRef,
    description: 'An agent adds a masked card to its user’s payment methods, with an approved ADD_PAYMENT_METHOD approval for exactly this card.',
    args: { input: t.arg({ type: PaymentMethodInput, required: true }) },
    ...paymentAgent('ADD_PAYMENT_METHOD'),
    resolve: (_root, { input }, ctx) => addPaymentMethod(ctx.services, input, callerOf(ctx)),
  }),
  changePaymentMethod: t.field({
    type: PaymentMethodRef,
    description: 'An agent changes one of its user’s payment methods to a new masked card, with an approved CHANGE_PAYMENT_METHOD approval for exactly this method and card.',
    args: { input: t.arg({ type: ChangePaymentMethodInput, required: true }) },
    ...paymentAgent('CHANGE_PAYMENT_METHOD'),
    resolve: (_root, { input }, ctx) => changePaymentMethod(ctx.services, changeInput(input), callerOf(ctx)),
  }),
  authorizePayment: t.field({
    type: PaymentAuthorizationRef,
    description: 'An agent obtains a payment token for the commerce API, with an approved PAY approval for exactly this amount, currency, creditor and reference.',
    args: { input: t.arg({ type: PaymentInput, required: true }) },
    ...paymentAgent('PAY'),
    resolve: (_root, { input }, ctx) => authorizePayment(ctx.services, input, callerOf(ctx)),
  }),
}));
