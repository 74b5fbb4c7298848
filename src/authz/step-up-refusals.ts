import { createContextCache } from '@pothos/core';
import type { AuditAction } from '../audit/audit.actions.js';
import { auditCaller } from '../audit/audit.service.js';
import type { Context } from '../graphql/context.js';
import { UnauthenticatedError, type HubError } from '../shared/errors.js';
import { scopeCacheKey } from './field-scopes.js';
import { RECENT_SIGN_IN_SECONDS, type StepUpDecision } from './step-up.js';

/** The scopes that ask for a step-up (see `settleStepUp`), each with its audit action and how its refusal names what it guards. */
const GUARDED = {
  agentRegistrar: { action: 'agent.registered', doing: 'Registering an agent', verb: 'register' },
  agentSecretRotator: { action: 'agent.secret_rotated', doing: 'Rotating an agent’s secret', verb: 'rotate' },
  agentReactivator: { action: 'agent.reactivated', doing: 'Reactivating an agent that keeps access (offline_access)', verb: 'reactivate' },
  consentGiver: { action: 'consent.given', doing: 'Consenting to an agent that keeps access (offline_access)', verb: 'consent' },
} as const satisfies Record<string, { action: AuditAction; doing: string; verb: string }>;

export type SteppedUp = keyof typeof GUARDED;

/** The step-up decisions of this request's scopes, by scope and parameter: a refusal is told as the decision made it. */
const decisions = createContextCache((_context: Context) => new Map<string, StepUpDecision>());
const decisionKey = (scope: SteppedUp, parameter: unknown) => `${scope}\u0000${String(scopeCacheKey(parameter))}`;

/**
 * Keeps a step-up decision of this request's, so that its refusal is told as one (`stepUpRefusal`),
 * and puts a refusal for a sign-in too long ago into the user's own trail (DENY, REAUTHENTICATE,
 * with `detail`): a stale session asking for an agent's secret, or for lasting access for an
 * agent, is what a stolen access token does, and the person and their auditors see that it tried.
 * @returns whether the decision allows.
 */
export function settleStepUp(context: Context, scope: SteppedUp, parameter: unknown, decision: StepUpDecision, detail?: Record<string, unknown>): boolean {
  decisions(context).set(decisionKey(scope, parameter), decision);
  const { principal } = context;
  if (!decision.allowed && decision.reason === 'REAUTHENTICATE' && principal.kind === 'user') {
    context.services.audit.record({
      action: GUARDED[scope].action,
      ...auditCaller(principal, context.requestId),
      subjectUserId: principal.userId,
      decision: 'DENY',
      reason: 'REAUTHENTICATE',
      ...(detail && { detail }),
    });
  }
  return decision.allowed;
}

/** The error of a failed scope that refused for a sign-in too long ago (`settleStepUp`); none for any other. */
export function stepUpRefusal(context: Context, { scope, parameter }: { scope: string; parameter: unknown }): HubError | undefined {
  if (!(scope in GUARDED)) return undefined;
  const decision = decisions(context).get(decisionKey(scope as SteppedUp, parameter));
  if (!decision || decision.allowed || decision.reason !== 'REAUTHENTICATE') return undefined;
  const { doing, verb } = GUARDED[scope as SteppedUp];
  return signInAgain(doing, verb);
}

/**
 * UNAUTHENTICATED for a sign-in too long ago, the closest code of API.md to RFC 9470's
 * `insufficient_user_authentication`: the token is valid, but the client must have the user sign
 * in again before it asks.
 */
export function signInAgain(doing: string, verb: string): HubError {
  return new UnauthenticatedError(`${doing} needs a recent sign-in: sign in again, then ${verb} within ${RECENT_SIGN_IN_SECONDS / 60} minutes`);
}
