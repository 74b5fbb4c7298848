import type { GrantLink } from '../oauth/access-token.js';

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
      /**
       * When the user last proved who they are (the token's `auth_time`: the sign-in, kept by
       * every refresh). Absent on a token without the claim, which is never a recent sign-in.
       */
      readonly authTime?: Date;
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
      /** When the token ends (its `exp`): what is issued on its strength must not outlive it. */
      readonly expiresAt?: Date;
      /**
       * The grants the token stands on, nearest first: its own `jti` and refresh family (`sid`),
       * then those of the tokens it was exchanged from (`delegated_from`). What is issued on its
       * strength names them, so that revoking any of them ends it too.
       */
      readonly lineage?: readonly GrantLink[];
      /**
       * The consent and agent state the token check read for this request, if it ran (it does
       * for every HTTP request); the per-field decision reads it rather than asking again.
       */
      readonly grant?: GrantState;
    }
  | {
      readonly kind: 'client';
      readonly clientId: string;
      readonly scopes: ReadonlySet<string>;
      readonly tokenId: string;
    };

/** The delegation behind a delegated token as the database holds it now (one read per request). */
export interface GrantState {
  /** Every agent of the chain (and every ancestor of each) exists, is active and not expired. */
  readonly agentsLive: boolean;
  /** The consent the token was issued under; null when there is none with its id. */
  readonly consent: {
    readonly userId: string;
    /** As stored: withdrawn, or active (expiry aside). */
    readonly status: 'active' | 'withdrawn' | 'expired';
    /** Past its expiry at the time of the read. */
    readonly expired: boolean;
    readonly scopes: readonly string[];
    readonly purpose: string;
  } | null;
  /** The data categories of the consent's purpose as the registry defines it now; null if unknown. */
  readonly purposeCategories: readonly string[] | null;
}

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

export const isOperatorScope = (scope: string): scope is OperatorScope => (OPERATOR_SCOPES as readonly string[]).includes(scope);

/**
 * Does this caller hold an operator scope? Only a client acting as itself does (API.md): a user's
 * or an agent's token that carried one would be a token the hub never issues.
 */
export function hasScope(principal: Principal, scope: OperatorScope): boolean {
  return principal.kind === 'client' && principal.scopes.has(scope);
}

/** A client holding any operator scope: may introspect the schema in production. */
export function isOperator(principal: Principal): boolean {
  return principal.kind === 'client' && OPERATOR_SCOPES.some((scope) => principal.scopes.has(scope));
}

/** What principalFromToken needs of a verified access token. */
export interface TokenClaims {
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
  readonly jti: string;
  readonly act?: { readonly sub: string; readonly act?: TokenClaims['act'] };
  readonly consent_id?: string;
  readonly purpose?: string;
  readonly exp?: number;
  readonly auth_time?: number;
  readonly sid?: string;
  readonly delegated_from?: readonly GrantLink[];
}

/**
 * The caller a verified token stands for, told apart by its claims as API.md says: `sub` a user
 * with no `act` is the user; with `act` an agent acting for them; `sub` an agent is a client.
 * Undefined for a combination the hub never issues, which the caller must refuse.
 */
export function principalFromToken(claims: TokenClaims): Principal | undefined {
  const scopes = new Set(claims.scope.split(' ').filter(Boolean));
  const base = { clientId: claims.client_id, scopes, tokenId: claims.jti };
  if (claims.sub.startsWith('usr_')) {
    if (!claims.act) return { kind: 'user', userId: claims.sub, ...base, ...(claims.auth_time !== undefined && { authTime: new Date(claims.auth_time * 1_000) }) };
    if (!claims.consent_id || !claims.purpose) return undefined;
    const actorChain: string[] = [];
    for (let hop: TokenClaims['act'] = claims.act; hop; hop = hop.act) actorChain.push(hop.sub);
    const expiresAt = claims.exp === undefined ? {} : { expiresAt: new Date(claims.exp * 1_000) };
    const lineage = [{ jti: claims.jti, ...(claims.sid && { sid: claims.sid }) }, ...(claims.delegated_from ?? [])];
    return { kind: 'delegated', userId: claims.sub, actorChain, consentId: claims.consent_id, purpose: claims.purpose, ...expiresAt, lineage, ...base };
  }
  if (claims.sub.startsWith('agt_') && !claims.act) return { kind: 'client', ...base };
  return undefined;
}
