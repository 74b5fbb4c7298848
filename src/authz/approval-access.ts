import { createContextCache } from '@pothos/core';
import { approvalLoader } from '../consent/approval.loaders.js';
import type { Context } from '../graphql/context.js';
import { ForbiddenError, UnauthenticatedError, type ForbiddenReason, type HubError } from '../shared/errors.js';
import { decideDelegatedField, grantState } from './delegation.js';
import { hasScope, type GrantState, type Principal } from './principal.js';
import type { Decision } from './profile-access.js';
import type { FieldRef } from './scopes.js';

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/** Acting on payment is writing the `payment` category: `payment:write` or `payment.paymentMethods:write`. */
const PAYMENT: FieldRef = { category: 'payment', field: 'paymentMethods' };

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
 * May this caller approve or deny this approval? Only the user it asks, signed in themself: not
 * an agent acting for them (not even the one that asked), not an operator. Never throws.
 */
export function decideApprovalAnswer(principal: Principal, approval: { readonly userId: string } | null | undefined): Decision {
  if (principal.kind !== 'user') return deny('MISSING_SCOPE');
  return approval?.userId === principal.userId ? ALLOW : deny('NOT_SUBJECT');
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
const decisions = createContextCache((_context: Context) => new Map<string, Decision>());

function settle(context: Context, key: string, decision: Decision): boolean {
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
  answer: async (context: Context, approvalId: string): Promise<boolean> =>
    settle(context, `answer:${approvalId}`, decideApprovalAnswer(context.principal, await approvalLoader(context).load(approvalId))),
  view: async (context: Context, approvalId: string): Promise<boolean> =>
    settle(context, `view:${approvalId}`, decideApprovalView(context.principal, await approvalLoader(context).load(approvalId))),

  /** The error of a refused field, for the decision `key` names (`payment`, `answer:<id>`, `view:<id>`). */
  refusal(context: Context, key: string): HubError {
    if (context.principal.kind === 'anonymous') return new UnauthenticatedError();
    const decision = decisions(context).get(key);
    return new ForbiddenError(decision && !decision.allowed ? decision.reason : 'MISSING_SCOPE', key === 'payment' ? 'Not allowed to act on payment' : 'Not allowed for this approval');
  },
};
