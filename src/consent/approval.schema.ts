import { agentLoader } from '../agents/agent.loaders.js';
import { AgentRef } from '../agents/agent.schema.js';
import { APPROVAL_MAX_AUTH_AGE_SECONDS, approvalAuth } from '../authz/approval-access.js';
import { readScopeOf } from '../authz/field-scopes.js';
import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { userLoader } from '../identity/user.loaders.js';
import { UserRef } from '../identity/user.schema.js';
import { pageSize } from '../shared/pagination.js';
import { APPROVAL_ACTIONS, summarize, type MaskedCard } from './approval.details.js';
import { APPROVAL_TTL, CARD_BRANDS } from './approval.input.js';
import { approvalLoader, approvalsOfUserLoader } from './approval.loaders.js';
import { answerApprovalRequest, approvalState, refusedRequestDetail, requestApproval, type Approval } from './approval.service.js';

const ApprovalStatusEnum = builder.enumType('ApprovalStatus', { values: ['PENDING', 'APPROVED', 'DENIED', 'USED', 'EXPIRED'] as const });

const ApprovalActionEnum = builder.enumType('ApprovalAction', {
  description: 'A payment action an agent needs its user’s approval for.',
  values: APPROVAL_ACTIONS,
});

const MaskedCardRef = builder.objectRef<MaskedCard>('MaskedCard').implement({
  description: 'A card as the hub keeps it: brand, last four digits and expiry, never the number.',
  fields: (t) => ({
    brand: t.exposeString('brand'),
    last4: t.exposeString('last4'),
    expMonth: t.exposeInt('expMonth'),
    expYear: t.exposeInt('expYear'),
  }),
});

/**
 * What an approval says of the payment (entry, amount, payee, reference, card) is the user's
 * payment data: each such field is decided as a read of `paymentMethods`, as on User.
 */
const paymentRead = readScopeOf('payment', 'paymentMethods', (approval: Approval) => approval.userId);

export const ApprovalRef = builder.objectRef<Approval>('Approval').implement({
  description:
    'An agent’s request that its user approve one payment action; once approved, the action can be done once, before expiresAt. Its payment fields (authorizationDetails, amount, currency, creditorName, description, paymentMethodId, card) are the user’s payment data: each needs what User.paymentMethods needs, and is null with FORBIDDEN otherwise.',
  fields: (t) => ({
    id: t.exposeID('id'),
    user: t.field({ type: UserRef, nullable: true, resolve: (a, _args, ctx) => userLoader(ctx).load(a.userId) }),
    agent: t.field({ type: AgentRef, nullable: true, description: 'The agent that asked.', resolve: (a, _args, ctx) => agentLoader(ctx).load(a.agentId) }),
    status: t.field({ type: ApprovalStatusEnum, description: 'EXPIRED once past expiresAt unanswered or unused.', resolve: (a, _args, ctx) => approvalState(a, ctx.services.clock.now()) }),
    authorizationDetails: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'What is approved, as one RFC 9396 authorization_details entry (payment_initiation, or the hub’s payment_method).',
      authScopes: paymentRead,
      resolve: (a) => a.authorizationDetails,
    }),
    action: t.field({ type: ApprovalActionEnum, resolve: (a) => summarize(a.authorizationDetails).action }),
    amount: t.string({ nullable: true, description: 'For PAY: a decimal string with the currency’s minor-unit digits.', authScopes: paymentRead, resolve: (a) => summarize(a.authorizationDetails).amount }),
    currency: t.string({ nullable: true, description: 'For PAY: ISO 4217.', authScopes: paymentRead, resolve: (a) => summarize(a.authorizationDetails).currency }),
    creditorName: t.string({ nullable: true, description: 'For PAY: who is paid.', authScopes: paymentRead, resolve: (a) => summarize(a.authorizationDetails).creditorName }),
    description: t.string({ nullable: true, description: 'For PAY: the reference shown with the payment.', authScopes: paymentRead, resolve: (a) => summarize(a.authorizationDetails).description }),
    paymentMethodId: t.id({ nullable: true, description: 'For CHANGE_PAYMENT_METHOD: the method changed.', authScopes: paymentRead, resolve: (a) => summarize(a.authorizationDetails).paymentMethodId }),
    card: t.field({ type: MaskedCardRef, nullable: true, description: 'For ADD_ and CHANGE_PAYMENT_METHOD: the card.', authScopes: paymentRead, resolve: (a) => summarize(a.authorizationDetails).card }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    decidedAt: t.expose('decidedAt', { type: 'DateTime', nullable: true }),
    usedAt: t.expose('usedAt', { type: 'DateTime', nullable: true }),
  }),
});

export const PaymentInput = builder.inputType('PaymentInput', {
  description: 'A payment: an RFC 9396 payment_initiation entry.',
  fields: (t) => ({
    amount: t.string({ required: true, description: 'A positive decimal such as "123.50", with at most the currency’s minor-unit digits.' }),
    currency: t.string({ required: true, description: 'ISO 4217, such as EUR.' }),
    creditorName: t.string({ required: true, description: 'Who is paid; at most 70 characters.' }),
    description: t.string({ description: 'The reference shown with the payment; at most 140 characters.' }),
  }),
});

export const PaymentMethodInput = builder.inputType('PaymentMethodInput', {
  description: 'A masked card: never the card number.',
  fields: (t) => ({
    brand: t.string({ required: true, description: CARD_BRANDS.join(', ') }),
    last4: t.string({ required: true }),
    expMonth: t.int({ required: true }),
    expYear: t.int({ required: true }),
  }),
});

const RequestApprovalInput = builder.inputType('RequestApprovalInput', {
  fields: (t) => ({
    action: t.field({ type: ApprovalActionEnum, required: true }),
    payment: t.field({ type: PaymentInput, description: 'For PAY.' }),
    paymentMethod: t.field({ type: PaymentMethodInput, description: 'For ADD_PAYMENT_METHOD and CHANGE_PAYMENT_METHOD: the card.' }),
    paymentMethodId: t.id({ description: 'For CHANGE_PAYMENT_METHOD: the method to change.' }),
    expiresInSeconds: t.int({ description: `How long the approval waits for its answer and its use: ${APPROVAL_TTL.min} to ${APPROVAL_TTL.max}; ${APPROVAL_TTL.default} when left out.` }),
  }),
});

/** The caller of a request, for the audit trail. */
export const callerOf = (ctx: Context) => ({ principal: ctx.principal, requestId: ctx.requestId });

builder.queryField('approval', (t) =>
  t.field({
    type: ApprovalRef,
    nullable: true,
    description: 'An approval by id: for the user it asks, the agent that asked, or users:admin.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args, ctx) => approvalAuth.view(ctx, String(args.id)),
    unauthorizedError: (_root, args, ctx) => approvalAuth.refusal(ctx, `view:${String(args.id)}`),
    resolve: (_root, args, ctx) => approvalLoader(ctx).load(String(args.id)),
  }),
);

builder.objectField(UserRef, 'approvals', (t) =>
  t.field({
    type: [ApprovalRef],
    nullable: true,
    description: 'The user’s approvals, newest first, all of them or those in `status` (PENDING for what waits for an answer): for the user themself, or users:admin.',
    args: { status: t.arg({ type: ApprovalStatusEnum }), first: t.arg.int({ description: 'At most 100; 20 when left out.' }) },
    authScopes: (user) => ({ userRecords: { userId: user.id, field: 'approvals', operator: 'users:admin' } }),
    resolve: (user, args, ctx) => approvalsOfUserLoader(ctx)(pageSize(args.first), args.status ?? undefined).load(user.id),
  }),
);

builder.mutationFields((t) => ({
  requestApproval: t.field({
    type: ApprovalRef,
    description: 'An agent acting for a user, with payment write scope under its consent, asks the user to approve one payment action.',
    args: { input: t.arg({ type: RequestApprovalInput, required: true }) },
    authScopes: (_root, _args, ctx) => approvalAuth.paymentAgent(ctx),
    unauthorizedError: (_root, { input }, ctx) => approvalAuth.paymentRefusal(ctx, refusedRequestDetail(input)),
    resolve: (_root, { input }, ctx) => requestApproval(ctx.services, { ...input, paymentMethodId: input.paymentMethodId?.toString() }, callerOf(ctx)),
  }),
  approve: t.field({
    type: ApprovalRef,
    description: `The user approves a pending approval: the agent may then do exactly that action, once, before it expires. A step-up: only with a session signed in after the approval was requested, within the last ${APPROVAL_MAX_AUTH_AGE_SECONDS / 60} minutes, and never handed to an agent for a token exchange (UNAUTHENTICATED otherwise: sign in again).`,
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args, ctx) => approvalAuth.answer(ctx, String(args.id)),
    unauthorizedError: (_root, args, ctx) => approvalAuth.refusal(ctx, `answer:${String(args.id)}`),
    resolve: (_root, args, ctx) => answerApprovalRequest(ctx.services, String(args.id), 'approved', callerOf(ctx)),
  }),
  deny: t.field({
    type: ApprovalRef,
    description: 'The user denies a pending approval; the same step-up as `approve`.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args, ctx) => approvalAuth.answer(ctx, String(args.id)),
    unauthorizedError: (_root, args, ctx) => approvalAuth.refusal(ctx, `answer:${String(args.id)}`),
    resolve: (_root, args, ctx) => answerApprovalRequest(ctx.services, String(args.id), 'denied', callerOf(ctx)),
  }),
}));
