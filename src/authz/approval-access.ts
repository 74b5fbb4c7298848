import { createContextCache } from '@pothos/core';
import { auditCaller } from '../audit/audit.service.js';
import { approvalLoader } from '../consent/approval.loaders.js';
import { recordRefusedAnswer, type RefusedPaymentDetail } from '../consent/approval.service.js';
import type { Context } from '../graphql/context.js';
import { ForbiddenError, UnauthenticatedError, type ForbiddenReason, type HubError } from '../shared/errors.js';
import { decideDelegatedField, grantState } from './delegation.js';
import { hasScope, type GrantState, type Principal } from './principal.js';
import type { Decision } from './profile-access.js';
import { scopesCover, type FieldRef } from './scopes.js';
import { authenticatedAt, REAUTHENTICATE, signedInWithin, type StepUpDecision } from './step-up.js';

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/** Acting on payment is writing the `payment` category: `payment:write` or `payment.paymentMethods:write`. */
const PAYMENT: FieldRef = { category: 'payment', field: 'paymentMethods' };

/** The scopes among `scopes` that act on payment: what a payment token carries as its `scope`. */
export function paymentScopes(scopes: ReadonlySet<string>): string[] {
  return [...scopes].filter((scope) => scopesCover(new Set([scope]), PAYMENT, 'write'));
}

/**
 * May this caller ask for, and use, approvals of payment actions? Only an agent acting for a user
 * (MISSING_SCOPE for anyone else), in the order of the per-field decision: its token carries a
 * payment write scope (MISSING_SCOPE); the consent the token was issued under exists and is the
 * user's (NO_CONSENT), is not withdrawn (CONSENT_WITHDRAWN) nor expired (CONSENT_EXPIRED); every
 * agent of the chain is active (AGENT_INACTIVE); the consent carries a payment write scope
 * (NO_CONSENT); its purpose, as the registry defines it now, covers payment (PURPOSE_NOT_COVERED).
 * Pure. Never throws.
 */
export function decidePaymentAgent(principal: Principal, grant: GrantState | null): Decision {
  if (principal.kind !== 'delegated' || !grant) return deny('MISSING_SCOPE');
  return decideDelegatedField(principal, grant, principal.userId, PAYMENT, 'write');
}

/**
 * How long after typing their password a user may still answer an approval (OIDC `max_age`,
 * RFC 9470 step-up): five minutes, the longest an authentication code of a payment may live under
 * PSD2 strong customer authentication (RTS Art. 4(3)(d)).
 */
export const APPROVAL_MAX_AUTH_AGE_SECONDS = 5 * 60;

/**
 * May this caller approve or deny this approval? A step-up: proof that the user it asks is present
 * now, which no session older than the request can give, however it was obtained (a token the user
 * handed an agent for a token exchange is refused before this, at the token check). Checked in
 * this order: the user, signed in themself (MISSING_SCOPE for an agent acting for them, even the
 * one that asked, or an operator; NOT_SUBJECT for another user or an unknown approval); with a
 * token that writes payment data (MISSING_SCOPE: a session narrowed at refresh keeps its sign-in
 * time, and answering lets the agent act on payment); having typed their password at or after the
 * request and within `APPROVAL_MAX_AUTH_AGE_SECONDS` of `now` (REAUTHENTICATE). `auth_time` counts
 * whole seconds, so a sign-in within the second of the request may have to be repeated. Never throws.
 */
export function decideApprovalAnswer(principal: Principal, approval: { readonly userId: string; readonly createdAt: Date } | null | undefined, now: Date): StepUpDecision {
  if (principal.kind !== 'user') return deny('MISSING_SCOPE');
  if (!approval || approval.userId !== principal.userId) return deny('NOT_SUBJECT');
  if (!scopesCover(principal.scopes, PAYMENT, 'write')) return deny('MISSING_SCOPE');
  if (authenticatedAt(principal) < approval.createdAt.getTime()) return REAUTHENTICATE;
  return signedInWithin(principal, now, APPROVAL_MAX_AUTH_AGE_SECONDS) ? ALLOW : REAUTHENTICATE;
}

/**
 * May this caller see this approval? The user it asks, signed in themself; the agent that asked,
 * acting for that user; an operator with `users:admin`. Never throws.
 */
export function decideApprovalView(principal: Principal, approval: { readonly userId: string; readonly agentId: string } | null | undefined): Decision {
  switch (principal.kind) {
    case 'anonymous':
      return deny('MISSING_SCOPE');
    case 'user':
      return approval?.userId === principal.userId ? ALLOW : deny('NOT_SUBJECT');
    case 'delegated':
      return approval?.userId === principal.userId && approval.agentId === principal.actorChain[0] ? ALLOW : deny('NOT_SUBJECT');
    case 'client':
      return hasScope(principal, 'users:admin') ? ALLOW : deny('MISSING_SCOPE');
  }
}

/** This request's approval decisions, so a refused field's error names the reason. */
const decisions = createContextCache((_context: Context) => new Map<string, StepUpDecision>());

function settle(context: Context, key: string, decision: StepUpDecision): boolean {
  decisions(context).set(key, decision);
  return decision.allowed;
}

/**
 * The `authScopes` and `unauthorizedError` of the approval fields: each decision above, made for
 * the request's caller (and the approval an argument names), with the reason it refused.
 */
export const approvalAuth = {
  /** The agent's payment fields: `requestApproval` and the payment mutations. */
  paymentAgent: async (context: Context): Promise<boolean> => {
    const grant = context.principal.kind === 'delegated' ? await grantState(context) : null;
    return settle(context, 'payment', decidePaymentAgent(context.principal, grant));
  },
  /**
   * A refused answer to an existing approval (the asking agent approving its own request, another
   * user, an operator, a session too old) is a decision about the user's payment like any other:
   * recorded in their trail as a refused `approval.answered` naming the entry as the approval's
   * other events do, through the buffered writer since it changes nothing. An anonymous caller, or an id that names no approval, names no one to record it for.
   */
  answer: async (context: Context, approvalId: string): Promise<boolean> => {
    const approval = await approvalLoader(context).load(approvalId);
    const decision = decideApprovalAnswer(context.principal, approval, context.services.clock.now());
    if (!decision.allowed && approval && context.principal.kind !== 'anonymous') {
      await recordRefusedAnswer(context.services, approval, context, decision.reason);
    }
    return settle(context, `answer:${approvalId}`, decision);
  },
  /**
   * A read of an approval, or its refusal, goes into the request's `profile.read` event about its
   * user as the field `approvals`, whoever reads (the user, the agent that asked, an operator), as
   * a read of a profile field does: approvals hold the person's cards, payees and payment
   * references. An id that names no approval names no one to audit.
   */
  view: async (context: Context, approvalId: string): Promise<boolean> => {
    const approval = await approvalLoader(context).load(approvalId);
    const decision = decideApprovalView(context.principal, approval);
    if (approval && context.principal.kind !== 'anonymous') context.access.note(approval.userId, 'approvals', decision.allowed ? undefined : decision.reason);
    return settle(context, `view:${approvalId}`, decision);
  },

  /**
   * The error of a refused field, for the decision `key` names (`payment`, `answer:<id>`,
   * `view:<id>`). A step-up refusal is UNAUTHENTICATED, the closest code of API.md to RFC 9470's
   * `insufficient_user_authentication`, as for an erasure: the token is valid, but the user must
   * sign in again before answering.
   */
  refusal(context: Context, key: string): HubError {
    if (context.principal.kind === 'anonymous') return new UnauthenticatedError();
    const reason = refusalReason(context, key);
    if (reason === 'REAUTHENTICATE') {
      return new UnauthenticatedError(`Answering an approval needs a sign-in made after it was requested: sign in again, then answer within ${APPROVAL_MAX_AUTH_AGE_SECONDS / 60} minutes`);
    }
    return new ForbiddenError(reason, key === 'payment' ? 'Not allowed to act on payment' : 'Not allowed for this approval');
  },

  /**
   * The error of a refused payment action or request for approval of one (the `payment`
   * decision), recorded as `payment.refused` with `detail` (the action, the entry asked for when
   * known, and the step for a request) through the buffered audit writer: the refusal changes
   * nothing, like a refused read. An anonymous caller, answered UNAUTHENTICATED, names no one to
   * record it for.
   */
  paymentRefusal(context: Context, detail: RefusedPaymentDetail): HubError {
    const { principal } = context;
    if (principal.kind !== 'anonymous') {
      const reason = refusalReason(context, 'payment');
      context.services.audit.record({
        action: 'payment.refused',
        ...auditCaller(principal, context.requestId),
        subjectUserId: principal.kind === 'user' || principal.kind === 'delegated' ? principal.userId : null,
        decision: 'DENY',
        reason,
        detail,
      });
    }
    return approvalAuth.refusal(context, 'payment');
  },
};

/** Why the decision `key` names refused; MISSING_SCOPE when it was not made. */
function refusalReason(context: Context, key: string): Exclude<StepUpDecision, { allowed: true }>['reason'] {
  const decision = decisions(context).get(key);
  return decision && !decision.allowed ? decision.reason : 'MISSING_SCOPE';
}
