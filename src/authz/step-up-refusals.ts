import { createContextCache } from '@pothos/core';
import type { AuditAction } from '../audit/audit.actions.js';
import { auditCaller } from '../audit/audit.service.js';
import type { Context } from '../graphql/context.js';
import { UnauthenticatedError, type HubError } from '../shared/errors.js';
import { RECENT_SIGN_IN_SECONDS, type StepUpDecision } from './step-up.js';

/** What a step-up of a scope guards (see `settleStepUp`), with its audit action and how its refusal names it. */
const GUARDED = {
  register: { action: 'agent.registered', doing: 'Registering an agent', verb: 'register' },
  rotate: { action: 'agent.secret_rotated', doing: 'Rotating an agent’s secret', verb: 'rotate' },
  reactivate: { action: 'agent.reactivated', doing: 'Reactivating an agent that keeps access (offline_access)', verb: 'reactivate' },
  consent: { action: 'consent.given', doing: 'Consenting to an agent that keeps access (offline_access)', verb: 'consent' },
} as const satisfies Record<string, { action: AuditAction; doing: string; verb: string }>;

export type SteppedUp = keyof typeof GUARDED;

/** The step-up decisions of this request's scopes, by what each guards and its parameter: a refusal is told as the decision made it. */
const decisions = createContextCache((_context: Context) => new Map<string, StepUpDecision>());

/**
 * Keeps a step-up decision of this request's, so that its refusal is told as one (`stepUpRefusal`),
 * and puts a refusal for a sign-in too long ago into the user's own trail (DENY, REAUTHENTICATE,
 * with `detail`): a stale session asking for an agent's secret, or for lasting access for an
 * agent, is what a stolen access token does, and the person and their auditors see that it tried.
 * @returns whether the decision allows.
 */
export function settleStepUp(context: Context, guarded: SteppedUp, key: string, decision: StepUpDecision, detail?: Record<string, unknown>): boolean {
  decisions(context).set(`${guarded}\u0000${key}`, decision);
  const { principal } = context;
  if (!decision.allowed && decision.reason === 'REAUTHENTICATE' && principal.kind === 'user') {
    context.services.audit.record({
      action: GUARDED[guarded].action,
      ...auditCaller(principal, context.requestId),
      subjectUserId: principal.userId,
      decision: 'DENY',
      reason: 'REAUTHENTICATE',
      ...(detail && { detail }),
    });
  }
  return decision.allowed;
}

/** The error of the step-up this request's scope decided for `guarded` and `key`, when it refused for a sign-in too long ago. */
export function stepUpRefusal(context: Context, guarded: SteppedUp, key: string): HubError | undefined {
  const decision = decisions(context).get(`${guarded}\u0000${key}`);
  if (!decision || decision.allowed || decision.reason !== 'REAUTHENTICATE') return undefined;
  return signInAgain(GUARDED[guarded].doing, GUARDED[guarded].verb);
}

/**
 * UNAUTHENTICATED for a sign-in too long ago, the closest code of API.md to RFC 9470's
 * `insufficient_user_authentication`: the token is valid, but the client must have the user sign
 * in again before it asks.
 */
export function signInAgain(doing: string, verb: string): HubError {
  return new UnauthenticatedError(`${doing} needs a recent sign-in: sign in again, then ${verb} within ${RECENT_SIGN_IN_SECONDS / 60} minutes`);
}
