import { AuthScopeFailureType, type AuthFailure } from '@pothos/plugin-scope-auth';
import type { Context } from '../graphql/context.js';
import { ForbiddenError, UnauthenticatedError, type HubError } from '../shared/errors.js';
import { decideAgentSession } from './agent-access.js';
import { writeDecisions, writeKey, type UserRecordsScope } from './auth-scopes.js';
import { profileFieldRefusal, type ProfileFieldScope } from './field-scopes.js';
import { decideSelfErasure } from './privacy-access.js';
import { decideUserFilter, decideUserRecords, decideWrite } from './profile-access.js';
import type { FieldRef, FilterRead } from './scopes.js';
import type { StepUpDecision } from './step-up.js';
import { signInAgain, stepUpRefusal } from './step-up-refusals.js';

// How a scope of `auth-scopes.ts` that refused is told: the code and reason of API.md, found again
// from the failure Pothos reports (or from the decision the scope kept, where time or the request's
// own reads would decide otherwise now).

/** The error a refused field carries, with the reason of API.md. */
export function unauthorizedError(context: Context, failure: AuthFailure): HubError {
  if (context.principal.kind === 'anonymous') return new UnauthenticatedError();
  const scoped = firstScopeFailure(failure);
  if (scoped?.scope === 'profileField') {
    const field = scoped.parameter as ProfileFieldScope;
    const decision = profileFieldRefusal(context, field);
    if (!decision.allowed) return new ForbiddenError(decision.reason, `Not allowed to read ${field.ref.field}`);
  }
  if (scoped?.scope === 'userFilter') {
    const decision = decideUserFilter(context.principal, scoped.parameter as readonly FilterRead[]);
    if (!decision.allowed) {
      const { key, ref, reason } = decision;
      return new ForbiddenError(reason, `Not allowed to filter on filter.${key}: the token's scopes do not cover ${ref.category}.${ref.field}`);
    }
  }
  if (scoped?.scope === 'profileWrite') {
    const refs = scoped.parameter as readonly FieldRef[];
    const decision = writeDecisions(context).get(writeKey(refs)) ?? decideWrite(context.principal, refs, null);
    if (!decision.allowed) return new ForbiddenError(decision.reason, refs.length === 0 ? 'An update must name at least one field to change' : 'Not allowed to change these fields');
  }
  if (scoped?.scope === 'selfErasure') {
    // Time only moves on, so the decision made now refuses for the reason the scope refused for.
    const decision = decideSelfErasure(context.principal, scoped.parameter as string, context.services.clock.now());
    if (!decision.allowed) return erasureRefusal(decision.reason);
  }
  if (scoped?.scope === 'userRecords') {
    const { userId, field, operator } = scoped.parameter as UserRecordsScope;
    const decision = decideUserRecords(context.principal, userId, operator);
    if (!decision.allowed) return new ForbiddenError(decision.reason, `Not allowed to see this user’s ${field}`);
  }
  if (scoped?.scope === 'consentGiver' && context.principal.kind === 'user') {
    return stepUpRefusal(context, scoped) ?? new ForbiddenError('MISSING_SCOPE', 'A consent can delegate only scopes this token holds');
  }
  if (CHANGING_SCOPES.includes(scoped?.scope ?? '') && !decideAgentSession(context.principal).allowed) {
    return new ForbiddenError('MISSING_SCOPE', 'Managing agents needs a session with every scope a sign-in grants');
  }
  const refusal = scoped && stepUpRefusal(context, scoped);
  if (refusal) return refusal;
  if (scoped?.scope === 'subject' || scoped?.scope === 'self') return new ForbiddenError('NOT_SUBJECT', 'Not allowed to see this user');
  // A user refused something of another user's (an agent, a consent) is told so, whichever scope failed first.
  if (context.principal.kind === 'user' && scopeFailures(failure).some((f) => OWNERSHIP_SCOPES.includes(f.scope))) {
    return new ForbiddenError('NOT_SUBJECT', 'Not allowed for this user');
  }
  return new ForbiddenError('MISSING_SCOPE');
}

const CHANGING_SCOPES = ['agentChanger', 'agentRegistrar', 'agentSecretRotator', 'agentReactivator'];
const OWNERSHIP_SCOPES = ['agentManager', 'agentChanger', 'agentOwner', 'agentRegistrar', 'agentSecretRotator', 'agentReactivator', 'consentHolder', 'consentReader'];

/** The error of a refused erasure; a sign-in too long ago is UNAUTHENTICATED (`signInAgain`). */
function erasureRefusal(reason: Exclude<StepUpDecision, { allowed: true }>['reason']): HubError {
  if (reason === 'REAUTHENTICATE') return signInAgain('Erasing an account', 'erase');
  if (reason === 'MISSING_SCOPE') return new ForbiddenError(reason, 'Erasing an account needs a session with every scope a sign-in grants');
  return new ForbiddenError(reason, 'Not allowed to erase this user');
}

function scopeFailures(failure: AuthFailure): { scope: string; parameter: unknown }[] {
  if (failure.kind === AuthScopeFailureType.AuthScope) return [failure];
  if (failure.kind === AuthScopeFailureType.AnyAuthScopes || failure.kind === AuthScopeFailureType.AllAuthScopes) return failure.failures.flatMap(scopeFailures);
  return [];
}

function firstScopeFailure(failure: AuthFailure): { scope: string; parameter: unknown } | undefined {
  if (failure.kind === AuthScopeFailureType.AuthScope) return failure;
  if (failure.kind === AuthScopeFailureType.AnyAuthScopes || failure.kind === AuthScopeFailureType.AllAuthScopes) {
    for (const inner of failure.failures) {
      const found = firstScopeFailure(inner);
      if (found) return found;
    }
  }
  return undefined;
}
