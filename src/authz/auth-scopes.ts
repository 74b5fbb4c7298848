import { AuthScopeFailureType, type AuthFailure } from '@pothos/plugin-scope-auth';
import type { Context } from '../graphql/context.js';
import { ForbiddenError, UnauthenticatedError, type HubError } from '../shared/errors.js';
import { hasScope, type OperatorScope } from './principal.js';
import { decideField, decideSubject, decideWrite } from './profile-access.js';
import type { DataCategory, FieldRef } from './scopes.js';

/** The parameter of the `profileField` scope: one field of one user's profile. */
export interface ProfileFieldScope {
  readonly userId: string;
  readonly ref: FieldRef;
}

/**
 * The scopes fields declare with `authScopes`. Each is decided here and only here; resolvers
 * never re-check them. Pothos builds these once per request and caches each answer.
 */
export interface AuthScopes {
  /** Any caller with a valid token. */
  authenticated: boolean;
  /** A caller whose token carries this operator scope. */
  operator: OperatorScope;
  /** The user with this id themself (or an agent acting for them), or an operator with `users:admin`. */
  subject: string;
  /** The per-field decision for reading one profile field. */
  profileField: ProfileFieldScope;
  /** The user with this id, signed in themself: not an agent acting for them, not an operator. */
  self: string;
  /** The caller's own profile, with write scopes for every one of these fields. */
  profileWrite: readonly FieldRef[];
}

export function createAuthScopes(context: Context) {
  return {
    authenticated: () => context.principal.kind !== 'anonymous',
    operator: (scope: OperatorScope) => hasScope(context.principal, scope),
    subject: (userId: string) => decideSubject(context.principal, userId).allowed,
    profileField: ({ userId, ref }: ProfileFieldScope) => {
      const decision = decideField(context.principal, userId, ref);
      context.access.note(userId, ref.field, decision.allowed ? undefined : decision.reason);
      return decision.allowed;
    },
    self: (userId: string) => context.principal.kind === 'user' && context.principal.userId === userId,
    profileWrite: (refs: readonly FieldRef[]) => decideWrite(context.principal, refs).allowed,
  };
}

/** The `authScopes` of a profile field of User: the per-field decision for its category. */
export function readScope(category: DataCategory, field: string) {
  const ref: FieldRef = { category, field };
  return (user: { id: string }) => ({ profileField: { userId: user.id, ref } });
}

/** The error a refused field carries, with the reason of API.md. */
export function unauthorizedError(context: Context, failure: AuthFailure): HubError {
  if (context.principal.kind === 'anonymous') return new UnauthenticatedError();
  const scoped = firstScopeFailure(failure);
  if (scoped?.scope === 'profileField') {
    const { userId, ref } = scoped.parameter as ProfileFieldScope;
    const decision = decideField(context.principal, userId, ref);
    if (!decision.allowed) return new ForbiddenError(decision.reason, `Not allowed to read ${ref.field}`);
  }
  if (scoped?.scope === 'profileWrite') {
    const decision = decideWrite(context.principal, scoped.parameter as readonly FieldRef[]);
    if (!decision.allowed) return new ForbiddenError(decision.reason, 'Not allowed to change these fields');
  }
  if (scoped?.scope === 'subject' || scoped?.scope === 'self') return new ForbiddenError('NOT_SUBJECT', 'Not allowed to see this user');
  return new ForbiddenError('MISSING_SCOPE');
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
