import { readFileSync } from 'node:fs';
import path from 'node:path';
import { importJWK, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { InvalidTokenError, verifyAccessToken, type KeyResolver } from '../../src/oauth/access-token.js';
import type { VerificationKey } from '../../src/oauth/key-store.js';

interface JwsCase {
  readonly tcId: number;
  readonly comment: string;
  readonly jws: string | Record<string, unknown>;
  readonly result: 'valid' | 'invalid' | 'acceptable';
  readonly flags: readonly string[];
}

interface JwsGroup {
  readonly comment: string;
  readonly public?: JWK;
  readonly private: JWK;
  readonly tests: readonly JwsCase[];
}

const file = new URL('../vectors/wycheproof/json_web_signature_test.json', import.meta.url);
const vectors = JSON.parse(readFileSync(file, 'utf8')) as { numberOfTests: number; testGroups: JwsGroup[] };
const cases = vectors.testGroups.flatMap((group) => group.tests.map((test) => ({ group, test })));

const audience = { issuer: 'https://hub.example', audience: 'https://hub.example/graphql' };
const now = new Date('2030-01-01T00:00:00Z');

/** Descriptions of a refusal at or before the signature check. */
const BEFORE_PAYLOAD = ['malformed token', 'token names its own key', 'unexpected algorithm', 'unknown key', 'invalid signature'];

const isJsonSerialized = (test: JwsCase) => typeof test.jws === 'object' || test.jws.trimStart().startsWith('{') || test.flags.includes('JsonSerialization');

function headerOf(test: JwsCase): Record<string, unknown> | undefined {
  if (typeof test.jws !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(test.jws.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A compact ES256 JWS checked against a P-256 key: the one combination the hub accepts. */
const isCompactEs256 = ({ group, test }: (typeof cases)[number]) =>
  !isJsonSerialized(test) && headerOf(test)?.alg === 'ES256' && group.public?.kty === 'EC' && group.public.crv === 'P-256';

/**
 * The group's public key under its own `kid`, as the KeyStore would resolve a published key: a
 * P-256 key as ES256, any other key for its labelled algorithm when jose can import it. A
 * symmetric group has no public key, so nothing to resolve.
 */
function resolverFor(group: JwsGroup): KeyResolver {
  const jwk = group.public;
  return {
    async verificationKey(kid) {
      if (!jwk || (jwk.kid !== undefined && kid !== jwk.kid)) return undefined;
      const alg = jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : jwk.alg;
      if (!alg) return undefined;
      try {
        return { key: (await importJWK(jwk, alg)) as VerificationKey['key'], acceptedUntil: undefined, signedUntil: undefined };
      } catch {
        return undefined;
      }
    },
  };
}

/** The InvalidTokenError description, or `accepted` when the token verifies. */
async function outcome({ group, test }: (typeof cases)[number]): Promise<string> {
  const token = typeof test.jws === 'string' ? test.jws : JSON.stringify(test.jws);
  try {
    await verifyAccessToken(resolverFor(group), audience, token, now);
    return 'accepted';
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.message;
    return `threw ${error instanceof Error ? error.name : typeof error}: ${String(error)}`;
  }
}

const name = ({ group, test }: (typeof cases)[number]) => `tcId ${test.tcId} (${group.comment}: ${test.comment || 'no comment'})`;

const invalid = cases.filter(({ test }) => test.result === 'invalid');
const valid = cases.filter(({ test }) => test.result !== 'invalid');
const validEs256 = valid.filter(isCompactEs256);
const otherValid = valid.filter((entry) => !isCompactEs256(entry));
const jsonSerialized = cases.filter(({ test }) => isJsonSerialized(test));
/**
 * Invalid only because the key is labelled `use: enc`: the ES256 signature itself is sound. Which
 * key may verify is the KeyResolver's contract, not the verifier's (the KeyStore holds only its
 * own `use: sig` keys), so the verifier refuses it only because its payload is no claims set.
 * The `key_ops: [encrypt]` twin never gets a key: jose will not import it for verification.
 */
const wrongKeyUse = invalid.filter((entry) => isCompactEs256(entry) && entry.group.public?.use === 'enc');
const invalidSignatures = invalid.filter((entry) => !wrongKeyUse.includes(entry));
/** Invalid ES256 cases with an intact header naming the group's signing key: only the signature is wrong. */
const badEs256Signatures = invalid.filter((entry) => {
  if (!isCompactEs256(entry) || entry.group.public?.use === 'enc' || entry.group.public?.key_ops) return false;
  const parts = String(entry.test.jws).split('.');
  const header = headerOf(entry.test);
  return parts.length === 3 && parts.every(Boolean) && Object.keys(header ?? {}).join() === 'alg,kid' && header?.kid === entry.group.public?.kid;
});

describe(`Wycheproof ${path.basename(file.pathname)} through verifyAccessToken`, () => {
  it(`reads all ${vectors.numberOfTests} cases`, () => {
    expect(cases).toHaveLength(vectors.numberOfTests);
    expect(invalid.length + valid.length).toBe(vectors.numberOfTests);
  });

  describe(`rejects all ${invalid.length} invalid JWS cases with InvalidTokenError`, () => {
    it.each(invalidSignatures.map((entry) => [name(entry), entry] as const))(
      `${invalidSignatures.length} of them at or before the signature: %s`,
      async (_, entry) => {
        expect(BEFORE_PAYLOAD).toContain(await outcome(entry));
      },
    );

    it.each(wrongKeyUse.map((entry) => [name(entry), entry] as const))(
      `${wrongKeyUse.length} signed soundly with a key labelled for encryption, refused as no claims set: %s`,
      async (_, entry) => {
        expect(await outcome(entry)).toBe('invalid token');
      },
    );
  });

  describe(`refuses the ${badEs256Signatures.length} ES256 cases with a bad signature at the signature check itself`, () => {
    it.each(badEs256Signatures.map((entry) => [name(entry), entry] as const))('%s', async (_, entry) => {
      expect(await outcome(entry)).toBe('invalid signature');
    });
  });

  describe(`takes the ${validEs256.length} valid compact ES256 cases past the signature`, () => {
    it.each(validEs256.map((entry) => [name(entry), entry] as const))('%s is refused only as no claims set', async (_, entry) => {
      const description = await outcome(entry);
      expect(description).not.toBe('accepted');
      expect(BEFORE_PAYLOAD).not.toContain(description);
      expect(description).toBe('invalid token');
    });
  });

  describe(`refuses the ${validEs256.length} valid compact ES256 cases with unused bits set in the signature, as the HS256-only base64 group would (ModifiedUnusedBitsInPayload)`, () => {
    it.each(validEs256.map((entry) => [name(entry), entry] as const))('%s', async (_, entry) => {
      const [header, payload, signature] = String(entry.test.jws).split('.');
      // An ES256 signature is 64 bytes: its last base64url character carries 4 unused bits.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const modified = `${signature!.slice(0, -1)}${alphabet[alphabet.indexOf(signature!.at(-1)!) | 0b1111]}`;
      expect(Buffer.from(modified, 'base64url')).toEqual(Buffer.from(signature!, 'base64url'));
      const test = { ...entry.test, jws: `${header}.${payload}.${modified}` };
      expect(await outcome({ group: entry.group, test })).toBe('malformed token');
    });
  });

  describe(`refuses the ${otherValid.length} valid cases of other algorithms or encodings, since it pins ES256 and strict base64url`, () => {
    it.each(otherValid.map((entry) => [name(entry), entry] as const))('%s', async (_, entry) => {
      expect(['unexpected algorithm', 'malformed token']).toContain(await outcome(entry));
    });
  });

  describe(`refuses the ${jsonSerialized.length} JSON-serialized cases as malformed`, () => {
    it.each(jsonSerialized.map((entry) => [name(entry), entry] as const))('%s', async (_, entry) => {
      expect(await outcome(entry)).toBe('malformed token');
    });
  });
});
