import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { createAuthScopes, type AuthScopes } from '../authz/auth-scopes.js';
import { ForbiddenError, UnauthenticatedError } from '../shared/errors.js';
import type { Context } from './context.js';

/** The one Pothos builder. Domain files add their types and root fields to it. */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: AuthScopes;
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: createAuthScopes,
    unauthorizedError: (_parent, context) =>
      context.principal.kind === 'anonymous' ? new UnauthenticatedError() : new ForbiddenError('MISSING_SCOPE'),
  },
});

builder.queryType({});
