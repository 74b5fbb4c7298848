/**
 * Who is calling, as established from the request's access token (or its absence).
 * Kinds follow API.md: a user, an agent acting for a user (delegated), or a client acting as itself.
 */
export type Principal =
  | { readonly kind: 'anonymous' }
  | {
      readonly kind: 'user';
      readonly userId: string;
      readonly clientId: string;
      readonly scopes: ReadonlySet<string>;
      readonly tokenId: string;
    }
  | {
      readonly kind: 'delegated';
      readonly userId: string;
      readonly clientId: string;
      readonly scopes: ReadonlySet<string>;
      readonly tokenId: string;
      /** The acting agents, nearest first: `act.sub`, then `act.act.sub`, ... */
      readonly actorChain: readonly string[];
      readonly consentId: string;
      readonly purpose: string;
    }
  | {
      readonly kind: 'client';
      readonly clientId: string;
      readonly scopes: ReadonlySet<string>;
      readonly tokenId: string;
    };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

/** The operator scopes of API.md. */
export const OPERATOR_SCOPES = [
  'users:admin',
  'agents:admin',
  'consents:admin',
  'audit:read',
  'audience:read',
  'webhooks:admin',
] as const;

export type OperatorScope = (typeof OPERATOR_SCOPES)[number];

export function hasScope(principal: Principal, scope: string): boolean {
  return principal.kind !== 'anonymous' && principal.scopes.has(scope);
}

/** A client holding any operator scope: may introspect the schema in production. */
export function isOperator(principal: Principal): boolean {
  return principal.kind === 'client' && OPERATOR_SCOPES.some((scope) => principal.scopes.has(scope));
}
