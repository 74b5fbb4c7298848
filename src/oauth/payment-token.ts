import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';
import type { Services } from '../app.js';
import { paymentsAudienceOf } from '../config.js';
import { ACCESS_TOKEN_TYP, InvalidTokenError, verifyAccessToken, type Actor, type GrantLink, type IssuedAccessToken, type TokenAudience, type VerifiedAccessToken } from './access-token.js';
import { boundedLifetime } from './delegation.js';
import { SIGNING_ALG, type KeyStore } from './key-store.js';

/**
 * The short-lived token of an approved payment (RFC 9396 §9): an RFC 9068 access token for the
 * downstream commerce API carrying the approved `authorization_details`, so that API can check,
 * offline against `/jwks.json` or by introspection, exactly what the user approved. Its audience
 * is the commerce API's, never the hub's, so the hub itself refuses it as a bearer token.
 */

/**
 * Seconds a payment token lives at most: long enough to reach the commerce API, too short to
 * hoard. Never past what it stands on (see `issuePaymentToken`).
 */
export const PAYMENT_TOKEN_TTL = 90;

/** The `aud` of payment tokens: the commerce API under the hub's issuer. */
export const paymentAudience = (issuer: string): TokenAudience => ({ issuer, audience: paymentsAudienceOf(issuer) });

export interface PaymentTokenClaims {
  /** The user who approved. */
  readonly sub: string;
  /** The agent that asked and used the approval. */
  readonly client_id: string;
  readonly act: Actor;
  /**
   * The consent the agent's delegated token was issued under, named as in access tokens:
   * introspection answers `active: true` only while it is in force.
   */
  readonly consent_id: string;
  /** That consent's purpose, as in access tokens. */
  readonly purpose: string;
  /** The payment write scopes of the delegated token it was issued with: what it acts with. */
  readonly scope: string;
  /**
   * The delegated token it was issued with and the grants that token stands on (its `jti` and
   * `sid`, then its `delegated_from`): revoking any of them ends the payment token too.
   */
  readonly delegated_from: readonly GrantLink[];
  /** The one approved entry. */
  readonly authorization_details: readonly Record<string, unknown>[];
}

/**
 * Signs a payment token with the hub's current signing key: `typ` at+jwt, a new `jti`, issued at
 * `now`, living PAYMENT_TOKEN_TTL seconds cut to the earliest of `notAfter` (the ends of what it
 * stands on: the delegated token, its consent), so it never outlives them. Undefined when one of
 * them ends within the second of `now`: no token may be issued then.
 */
export async function issuePaymentToken(
  keys: KeyStore,
  issuer: string,
  claims: PaymentTokenClaims,
  { now, notAfter }: { now: Date; notAfter: readonly (Date | null)[] },
): Promise<IssuedAccessToken | undefined> {
  const ttl = boundedLifetime(now, PAYMENT_TOKEN_TTL, notAfter);
  if (ttl <= 0) return undefined;
  const { kid, privateKey } = keys.signingKey();
  const audience = paymentAudience(issuer);
  const iat = Math.floor(now.getTime() / 1_000);
  const exp = iat + ttl;
  const jti = randomUUID();
  const accessToken = await new SignJWT({
    client_id: claims.client_id,
    scope: claims.scope,
    act: claims.act,
    consent_id: claims.consent_id,
    purpose: claims.purpose,
    delegated_from: claims.delegated_from,
    authorization_details: claims.authorization_details,
  })
    .setProtectedHeader({ alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYP, kid })
    .setIssuer(audience.issuer)
    .setAudience(audience.audience)
    .setSubject(claims.sub)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(privateKey);
  return { accessToken, jti, expiresIn: ttl, expiresAt: new Date(exp * 1_000) };
}

const detailsSchema = z.array(z.record(z.string(), z.unknown())).min(1).max(8);

/** What introspection (RFC 7662, with RFC 9396 §9.1) says of a live payment token. */
export interface PaymentTokenIntrospection {
  readonly active: true;
  readonly client_id: string;
  readonly sub: string;
  readonly exp: number;
  readonly iat: number;
  readonly iss: string;
  readonly aud: string;
  readonly token_type: 'Bearer';
  readonly jti: string;
  readonly scope: string;
  readonly act?: Actor;
  readonly consent_id: string;
  readonly purpose?: string;
  readonly authorization_details: readonly Record<string, unknown>[];
}

/**
 * The claims of `token` if it is a payment token the hub signed that has not expired and claims no
 * longer a life than the hub gives them, whatever the database says of it now (what revocation
 * needs); undefined for anything else. Never throws for a bad token.
 */
export async function verifyPaymentToken(services: Pick<Services, 'keys' | 'config' | 'clock'>, token: string): Promise<VerifiedAccessToken | undefined> {
  try {
    return await verifyAccessToken(services.keys, paymentAudience(services.config.issuer), token, services.clock.now(), { maxLifetimeSeconds: PAYMENT_TOKEN_TTL });
  } catch (error) {
    if (error instanceof InvalidTokenError) return undefined;
    throw error;
  }
}

/**
 * Introspects `token` as a payment token: undefined when it is not one the hub signed (one without
 * `consent_id` included) or it has expired; `{ active: false }` when it is not the caller's
 * business, was revoked, or so was the delegated token it was issued with or a grant that stands
 * under it, its user is no longer active, an agent of its chain is no longer live or its consent
 * is no longer in force (withdrawn or expired); otherwise its claims with its
 * `authorization_details`. Never throws for a bad token.
 */
export async function introspectPaymentToken(
  services: Pick<Services, 'keys' | 'config' | 'clock' | 'tokens' | 'db'>,
  token: string,
  callersBusiness: (clientId: string) => boolean,
): Promise<PaymentTokenIntrospection | { active: false } | undefined> {
  const audience = paymentAudience(services.config.issuer);
  const claims = await verifyPaymentToken(services, token);
  if (!claims) return undefined;
  const details = detailsSchema.safeParse((claims as unknown as Record<string, unknown>).authorization_details);
  if (!details.success || !claims.act || !claims.consent_id) return undefined;
  if (!callersBusiness(claims.client_id)) return { active: false };
  const chain: string[] = [];
  for (let hop: Actor | undefined = claims.act; hop; hop = hop.act) chain.push(hop.sub);
  const state = await services.tokens.delegationState(services.db, {
    jti: claims.jti,
    agentIds: [claims.client_id, ...chain],
    userId: claims.sub,
    consentId: claims.consent_id,
    delegatedFrom: claims.delegated_from ?? [],
  });
  if (state.revoked || state.familyRevoked || !state.userActive || !state.agentsLive || !state.consentLive) return { active: false };
  return {
    active: true,
    client_id: claims.client_id,
    sub: claims.sub,
    exp: claims.exp,
    iat: claims.iat,
    iss: audience.issuer,
    aud: audience.audience,
    token_type: 'Bearer',
    jti: claims.jti,
    scope: claims.scope,
    act: claims.act,
    consent_id: claims.consent_id,
    ...(claims.purpose !== undefined && { purpose: claims.purpose }),
    authorization_details: details.data,
  };
}
