import type { Context } from '../graphql/context.js';
import { hasScope, type OperatorScope } from './principal.js';

/**
 * The scopes fields declare with `authScopes`. Each is decided here and only here; resolvers
 * never re-check them. Pothos calls this once per request and caches each scope's answer.
 */
export interface AuthScopes {
  /** Any caller with a valid token. */
  authenticated: boolean;
  /** A caller whose token carries this operator scope. */
  operator: OperatorScope;
}

export function createAuthScopes(context: Context) {
  const { principal } = context;
  return {
    authenticated: principal.kind !== 'anonymous',
    operator: (scope: OperatorScope) => hasScope(principal, scope),
  };
}
