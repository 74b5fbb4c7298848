import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidTokenError, verifyAccessToken, type KeyResolver } from '../../src/oauth/access-token.js';
import type { VerificationKey } from '../../src/oauth/key-store.js';

// The edges of the time checks of an access token, to the second: `exp` and `nbf` hold as they
// are, with no leeway; `iat` may be a minute ahead, and `exp - iat` a minute past the lifetime.

const TTL = 600;
const KID = 'clock-test-key';
const audience = { issuer: 'https://hub.example', audience: 'https://hub.example/graphql' };
const now = new Date('2030-01-01T00:00:00Z');
const nowSeconds = Math.floor(now.getTime() / 1_000);

let key: VerificationKey['key'];
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const keys: KeyResolver = { verificationKey: async (kid) => (kid === KID ? { key, acceptedUntil: undefined, signedUntil: undefined } : undefined) };

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.publicKey as VerificationKey['key'];
  privateKey = pair.privateKey;
});

function token(claims: JWTPayload): Promise<string> {
  const payload = { iss: audience.issuer, aud: audience.audience, sub: 'usr_clock', client_id: 'hub-frontend', scope: 'profile:read', jti: randomUUID(), iat: nowSeconds - 60, exp: nowSeconds + 60, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: KID }).sign(privateKey);
}

/** The refusal's description, or `accepted`. */
async function outcome(claims: JWTPayload): Promise<string> {
  try {
    await verifyAccessToken(keys, audience, await token(claims), now, { maxLifetimeSeconds: TTL });
    return 'accepted';
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.message;
    throw error;
  }
}

describe('access token time checks, at their edges', () => {
  it('accepts a token until the second before its exp, and refuses it from that second on, with no leeway', async () => {
    expect(await outcome({ exp: nowSeconds + 1 })).toBe('accepted');
    expect(await outcome({ exp: nowSeconds })).toBe('token expired');
    expect(await outcome({ exp: nowSeconds - 1 })).toBe('token expired');
  });

  it('accepts a token from its nbf on, and refuses it a second before, with no leeway', async () => {
    expect(await outcome({ nbf: nowSeconds })).toBe('accepted');
    expect(await outcome({ nbf: nowSeconds + 1 })).toBe('invalid nbf claim');
  });

  it('accepts an iat up to a minute ahead of the clock, and not a second more', async () => {
    expect(await outcome({ iat: nowSeconds + 60, exp: nowSeconds + 60 + TTL })).toBe('accepted');
    expect(await outcome({ iat: nowSeconds + 61, exp: nowSeconds + 61 + TTL })).toBe('invalid iat claim');
  });

  it('accepts a lifetime (exp - iat) up to a minute past HUB_ACCESS_TOKEN_TTL, and not a second more', async () => {
    expect(await outcome({ iat: nowSeconds, exp: nowSeconds + TTL + 60 })).toBe('accepted');
    expect(await outcome({ iat: nowSeconds, exp: nowSeconds + TTL + 61 })).toBe('token lifetime too long');
  });
});
