import { randomUUID } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { CLOCK_SKEW_MS } from '../shared/clock.js';
import { isStorableText } from '../shared/input.js';
import { SIGNING_ALG, type KeyStore } from './key-store.js';

/** Where verification finds the public key a `kid` names; the KeyStore, or a fixed key in tests. */
export type KeyResolver = Pick<KeyStore, 'verificationKey'>;

/** RFC 9068 §2.1: the media type of a JWT access token, pinned on issue and on verification. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** The acting party of a delegated token, nested per hop (RFC 8693 §4.1). */
export interface Actor {
  readonly sub: string;
  readonly act?: Actor;
}

/**
 * The grant of a token that a delegated token was exchanged from (a sub-agent's hop): its `jti`
 * and, when it was issued with a refresh token, its refresh family (`sid`).
 */
export interface GrantLink {
  readonly jti: string;
  readonly sid?: string;
}

/** The claims the hub sets beside `iss`, `aud`, `iat`, `exp` and `jti` (API.md). */
export interface AccessTokenClaims {
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
  readonly act?: Actor;
  readonly consent_id?: string;
  readonly purpose?: string;
  readonly acr?: string;
  readonly auth_time?: number;
  /**
   * The refresh token family issued with this token (its grant, as OIDC's `sid` names a session):
   * revoking any token of the family ends this access token too (RFC 7009 §2.1).
   */
  readonly sid?: string;
  /**
   * For a token exchanged from a delegated token: the grants of every token it descends from,
   * nearest first. Revoking any of them, by `jti` or with its family, ends this token too.
   */
  readonly delegated_from?: readonly GrantLink[];
}

export interface VerifiedAccessToken extends AccessTokenClaims {
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
}

export interface IssuedAccessToken {
  readonly accessToken: string;
  readonly jti: string;
  readonly expiresIn: number;
  readonly expiresAt: Date;
}

export interface TokenAudience {
  readonly issuer: string;
  readonly audience: string;
}

/** Why a presented token was refused: the public `error_description` of RFC 6750. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/** A token may claim `iat` this far in the future, and live this much longer than its lifetime allows. */
const CLOCK_SKEW_SECONDS = CLOCK_SKEW_MS / 1_000;

/** Longest token accepted; anything longer is refused before it is parsed. */
const MAX_TOKEN_LENGTH = 8_192;
const MAX_ACT_DEPTH = 8;
/** Headers that would make a verifier fetch or trust a key named by the token itself. */
const KEY_BEARING_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256'] as const;

/** A claim of text the hub looks up or stores: text PostgreSQL holds as given, or the token is malformed. */
const claimText = (min: number, max: number) => z.string().min(min).max(max).refine(isStorableText);

const actor: z.ZodType<Actor> = z.lazy(() => z.object({ sub: claimText(1, 255), act: actor.optional() }).loose());

const claimsSchema = z
  .object({
    sub: claimText(1, 255),
    client_id: claimText(1, 255),
    scope: claimText(0, 4_096).default(''),
    jti: claimText(1, 128),
    iat: z.number(),
    exp: z.number(),
    act: actor.optional(),
    consent_id: claimText(0, 64).optional(),
    purpose: claimText(0, 64).optional(),
    acr: claimText(0, 64).optional(),
    auth_time: z.number().optional(),
    sid: claimText(0, 64).optional(),
    // One grant per agent of the chain, and the user's session the first agent's came from.
    delegated_from: z.array(z.object({ jti: claimText(1, 128), sid: claimText(0, 64).optional() })).max(MAX_ACT_DEPTH + 1).optional(),
  })
  .loose();

/** Signs an RFC 9068 access token with the current signing key. */
export async function issueAccessToken(
  keys: KeyStore,
  audience: TokenAudience,
  claims: AccessTokenClaims,
  options: { now: Date; ttlSeconds: number },
): Promise<IssuedAccessToken> {
  const { kid, privateKey } = keys.signingKey();
  const iat = Math.floor(options.now.getTime() / 1_000);
  const exp = iat + options.ttlSeconds;
  const jti = randomUUID();
  const accessToken = await new SignJWT({ ...claims } as JWTPayload)
    .setProtectedHeader({ alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYP, kid })
    .setIssuer(audience.issuer)
    .setAudience(audience.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(privateKey);
  return { accessToken, jti, expiresIn: options.ttlSeconds, expiresAt: new Date(exp * 1_000) };
}

/**
 * Verifies an access token, in a fixed order: size and shape (three segments of canonical
 * base64url); no header that names its own key;
 * a known `kid`; the signature with the pinned algorithm; `typ`, `iss`, `aud`, `exp`, `nbf`; the
 * required claims and their types; an `iat` no later than a retired key's `signedUntil`, past which
 * only a leaked copy of the key can have signed; then, given `maxLifetimeSeconds` (the longest the issuer gives
 * tokens of this kind), `iat` not in the future and `exp - iat` within it, both allowing for clock
 * skew, so that a token signed with a leaked key cannot claim to live longer than the hub's own.
 * Says nothing of revocation: that is the caller's next step.
 * @throws InvalidTokenError with a public description.
 */
export async function verifyAccessToken(
  keys: KeyResolver,
  audience: TokenAudience,
  token: string,
  now: Date,
  options: { readonly maxLifetimeSeconds?: number } = {},
): Promise<VerifiedAccessToken> {
  if (token.length > MAX_TOKEN_LENGTH || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token) || !token.split('.').every(isCanonicalBase64url)) throw new InvalidTokenError('malformed token');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new InvalidTokenError('malformed token');
  }
  if (KEY_BEARING_HEADERS.some((name) => name in header)) throw new InvalidTokenError('token names its own key');
  if (header.alg !== SIGNING_ALG) throw new InvalidTokenError('unexpected algorithm');
  if (typeof header.kid !== 'string' || header.kid.length > 128) throw new InvalidTokenError('unknown key');
  const verifying = await keys.verificationKey(header.kid);
  if (!verifying) throw new InvalidTokenError('unknown key');

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, verifying.key, {
      algorithms: [SIGNING_ALG],
      typ: ACCESS_TOKEN_TYP,
      issuer: audience.issuer,
      audience: audience.audience,
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
      currentDate: now,
    }));
  } catch (error) {
    throw new InvalidTokenError(describeJoseError(error));
  }
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) throw new InvalidTokenError('malformed claims');
  if (actDepth(claims.data.act) > MAX_ACT_DEPTH) throw new InvalidTokenError('malformed claims');
  if (verifying.signedUntil && claims.data.iat * 1_000 > verifying.signedUntil.getTime()) throw new InvalidTokenError('issued after its key was retired');
  if (options.maxLifetimeSeconds !== undefined) {
    const { iat, exp } = claims.data;
    if (iat > now.getTime() / 1_000 + CLOCK_SKEW_SECONDS) throw new InvalidTokenError('invalid iat claim');
    if (exp - iat > options.maxLifetimeSeconds + CLOCK_SKEW_SECONDS) throw new InvalidTokenError('token lifetime too long');
  }
  return claims.data as VerifiedAccessToken;
}

/**
 * Whether `segment` is the one base64url text of its bytes (RFC 4648 §3.5: unused bits zero, no
 * impossible length). A decoder that ignores those bits reads other texts as the same signature,
 * which Wycheproof counts as invalid (`ModifiedUnusedBitsInPayload`).
 */
function isCanonicalBase64url(segment: string): boolean {
  return Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

function actDepth(act: Actor | undefined): number {
  let depth = 0;
  for (let hop = act; hop; hop = hop.act) depth++;
  return depth;
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `invalid ${error.claim} claim`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'invalid signature';
  return 'invalid token';
}
