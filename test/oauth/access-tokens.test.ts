import { createHmac, createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { open, resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { publishedUntil, signedUntil } from '../../src/oauth/key-schedule.js';
import { rotateSigningKey, type SigningKey } from '../../src/oauth/key-store.js';
import { FRONTEND_CLIENT_ID } from '../../src/oauth/token.service.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createEmbeddedDatabase, createTestDatabase, describeEmbedded } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser, startTestHub } from '../helpers/hub.js';
import { claimsOf } from '../helpers/oauth.js';
import { runNode } from '../helpers/run-node.js';

const RENAME = 'mutation { updateProfile(input: { givenName: "Mallory" }) { givenName } }';

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS of `header` and `payload` with the given signature segment, signed by nobody. */
const compact = (header: object, payload: object, signature = '') => `${b64url(header)}.${b64url(payload)}.${signature}`;

const epoch = (date: Date) => Math.floor(date.getTime() / 1_000);

async function jwksOf(hub: Pick<Hub, 'http'>, url = '/jwks.json'): Promise<JWK[]> {
  const response = await hub.http.inject({ method: 'GET', url });
  return (JSON.parse(response.body) as { keys: JWK[] }).keys;
}

function sign(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...header }).sign(key.privateKey);
}

describe('access tokens at /graphql', () => {
  let hub: Hub;
  let user: Awaited<ReturnType<typeof signUpUser>>;
  beforeAll(async () => {
    hub = await startTestHub();
    user = await signUpUser(hub, { givenName: 'Ada' });
  });
  afterAll(() => hub.close());

  /** The claims the hub itself puts in a user token for `user`, fresh now. */
  const userClaims = (overrides: JWTPayload = {}): JWTPayload => {
    const now = epoch(new Date());
    return {
      iss: hub.config.issuer,
      aud: hub.config.audience,
      sub: user.id,
      client_id: FRONTEND_CLIENT_ID,
      scope: ALL_DATA_SCOPES.join(' '),
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      ...overrides,
    };
  };
  /** An `act` claim nesting `depth` agents (RFC 8693 §4.1). */
  const actChain = (depth: number): JWTPayload => (depth === 1 ? { sub: 'agt_hop1' } : { sub: `agt_hop${depth}`, act: actChain(depth - 1) });
  const withoutClaim = (name: string): JWTPayload => {
    const { [name]: _, ...rest } = userClaims();
    return rest;
  };
  const signWithHubKey = (claims: JWTPayload, header: Record<string, unknown> = {}) => sign(hub.services.keys.signingKey(), claims, header);

  const givenName = async () => {
    const response = await graphql<{ me: { givenName: string } }>(hub, '{ me { givenName } }', { token: user.accessToken });
    return response.data?.me.givenName;
  };

  /** 401 with the RFC 6750 challenge and an UNAUTHENTICATED error; the mutation did not run. */
  const expectRefused = async (token: string, description: string) => {
    const response = await graphql(hub, RENAME, { token });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="hub", error="invalid_token"/);
    expect(response.headers['www-authenticate']).toContain(`error_description="${description}"`);
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
    expect(response.data).toBeUndefined();
    expect(await givenName()).toBe('Ada');
  };

  describe('accepted', () => {
    it('resolves me for the token sign-up returned', async () => {
      const response = await graphql<{ me: { id: string } }>(hub, '{ me { id } }', { token: user.accessToken });
      expect(response.status).toBe(200);
      expect(response.data).toEqual({ me: { id: user.id } });
    });

    it('resolves me for a token signed here with the hub key and the claims the hub issues, so the refusals below are not vacuous', async () => {
      const response = await graphql(hub, '{ me { id } }', { token: await signWithHubKey(userClaims()) });
      expect(response.data).toEqual({ me: { id: user.id } });
    });

    it('resolves me for a token that lives as long as HUB_ACCESS_TOKEN_TTL, issued a moment ahead by a clock running fast', async () => {
      const now = epoch(new Date());
      const response = await graphql(hub, '{ me { id } }', { token: await signWithHubKey(userClaims({ iat: now + 30, exp: now + 30 + hub.config.accessTokenTtl })) });
      expect(response.data).toEqual({ me: { id: user.id } });
    });

    it('runs the probe mutation of the refusals below for an accepted token', async () => {
      const other = await signUpUser(hub, { givenName: 'Bob' });
      const response = await graphql(hub, RENAME, { token: await signWithHubKey(userClaims({ sub: other.id })) });
      expect(response.data).toEqual({ updateProfile: { givenName: 'Mallory' } });
    });
  });

  describe('refused: algorithm', () => {
    it('refuses alg none with no signature', async () => {
      await expectRefused(compact({ alg: 'none', typ: 'at+jwt', kid: hub.services.keys.signingKey().kid }, userClaims()), 'malformed token');
    });

    it('refuses alg none carrying the signature of a real token', async () => {
      const real = (await signWithHubKey(userClaims())).split('.')[2];
      await expectRefused(compact({ alg: 'none', typ: 'at+jwt', kid: hub.services.keys.signingKey().kid }, userClaims(), real), 'unexpected algorithm');
    });

    it.each([
      ['the JWK as /jwks.json serves it', (jwk: JWK) => JSON.stringify(jwk)],
      ['the SPKI PEM', (jwk: JWK) => createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' })],
      ['the SPKI DER', (jwk: JWK) => createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' })],
    ])('refuses HS256 keyed with the hub public key bytes: %s', async (_, secretOf) => {
      const jwk = (await jwksOf(hub)).find((key) => key.kid === hub.services.keys.signingKey().kid)!;
      const unsigned = `${b64url({ alg: 'HS256', typ: 'at+jwt', kid: jwk.kid })}.${b64url(userClaims())}`;
      const mac = createHmac('sha256', secretOf(jwk)).update(unsigned).digest('base64url');
      await expectRefused(`${unsigned}.${mac}`, 'unexpected algorithm');
    });
  });

  describe('refused: header and claims, signed with the hub key', () => {
    it.each([
      ['typ JWT', () => signWithHubKey(userClaims(), { typ: 'JWT' }), 'invalid typ claim'],
      ['no typ', () => signWithHubKey(userClaims(), { typ: undefined }), 'invalid typ claim'],
      ['another issuer', () => signWithHubKey(userClaims({ iss: 'https://evil.example' })), 'invalid iss claim'],
      ['another audience', () => signWithHubKey(userClaims({ aud: 'https://other.example/graphql' })), 'invalid aud claim'],
      ['an expired token', () => signWithHubKey(userClaims({ iat: epoch(new Date()) - 700, exp: epoch(new Date()) - 10 })), 'token expired'],
      ['nbf in the future', () => signWithHubKey(userClaims({ nbf: epoch(new Date()) + 300 })), 'invalid nbf claim'],
      ['no exp', () => signWithHubKey(withoutClaim('exp')), 'invalid exp claim'],
      ['no iat', () => signWithHubKey(withoutClaim('iat')), 'invalid iat claim'],
      ['no jti', () => signWithHubKey(withoutClaim('jti')), 'invalid jti claim'],
      ['no sub', () => signWithHubKey(withoutClaim('sub')), 'invalid sub claim'],
      ['no client_id', () => signWithHubKey(withoutClaim('client_id')), 'invalid client_id claim'],
      ['exp not a number', () => signWithHubKey(userClaims({ exp: 'never' as unknown as number })), 'invalid exp claim'],
      ['a lifetime of a year, where HUB_ACCESS_TOKEN_TTL is 600 s', () => signWithHubKey(userClaims({ exp: epoch(new Date()) + 365 * 86_400 })), 'token lifetime too long'],
      ['a lifetime of HUB_ACCESS_TOKEN_TTL and two minutes', () => signWithHubKey(userClaims({ exp: epoch(new Date()) + 600 + 120 })), 'token lifetime too long'],
      ['iat an hour ahead, with a lifetime of HUB_ACCESS_TOKEN_TTL', () => signWithHubKey(userClaims({ iat: epoch(new Date()) + 3_600, exp: epoch(new Date()) + 3_600 + 600 })), 'invalid iat claim'],
      // A chain as deep as verification allows reaches the check of its agents; one deeper does not.
      ['an act chain of eight unknown agents', () => signWithHubKey(userClaims({ act: actChain(8), consent_id: 'cns_none', purpose: 'support' })), 'agent not active'],
      ['an act chain of nine agents, deeper than any delegation', () => signWithHubKey(userClaims({ act: actChain(9), consent_id: 'cns_none', purpose: 'support' })), 'malformed claims'],
      // PostgreSQL text holds neither: a claim the hub looks up must be refused before it reaches a statement.
      ['a sub with U+0000', () => signWithHubKey(userClaims({ sub: 'usr_\u0000' })), 'malformed claims'],
      ['a jti with an unpaired surrogate', () => signWithHubKey(userClaims({ jti: '\ud800' })), 'malformed claims'],
      ['a sid with U+0000', () => signWithHubKey(userClaims({ sid: 'fam\u0000' })), 'malformed claims'],
      ['an agent of the act chain with U+0000', () => signWithHubKey(userClaims({ act: { sub: 'agt_\u0000' }, consent_id: 'cns_none', purpose: 'support' })), 'malformed claims'],
      ['a delegated_from grant with U+0000', () => signWithHubKey(userClaims({ act: { sub: 'agt_hop1' }, consent_id: 'cns_none', purpose: 'support', delegated_from: [{ jti: '\u0000' }] })), 'malformed claims'],
    ])('refuses %s', async (_, token, description) => {
      await expectRefused(await token(), description);
    });

    /**
     * The segment with the unused low bits of its last character set: it decodes to the same bytes
     * (RFC 4648 §3.5), so only a decoder that demands the canonical form tells the two apart.
     */
    const withUnusedBitsSet = (segment: string) => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const unusedBits = { 2: 4, 3: 2 }[segment.length % 4 as 2 | 3];
      const last = alphabet.indexOf(segment.at(-1)!);
      const changed = `${segment.slice(0, -1)}${alphabet[last | ((1 << unusedBits) - 1)]}`;
      expect(Buffer.from(changed, 'base64url')).toEqual(Buffer.from(segment, 'base64url'));
      expect(changed).not.toBe(segment);
      return changed;
    };

    it('refuses a token whose signature is base64url with unused bits set (Wycheproof ModifiedUnusedBitsInPayload)', async () => {
      // The header and payload are signed as the text they are sent as, so only the signature can
      // be written another way and still verify: a second text of the same token.
      const [header, payload, signature] = (await signWithHubKey(userClaims())).split('.');
      await expectRefused(`${header}.${payload}.${withUnusedBitsSet(signature!)}`, 'malformed token');
    });

    it('refuses a tampered payload under the original signature', async () => {
      const [header, , signature] = (await signWithHubKey(userClaims({ scope: 'profile:read' }))).split('.');
      await expectRefused(`${header}.${b64url(userClaims())}.${signature}`, 'invalid signature');
    });
  });

  describe('refused: hostile kid', () => {
    it.each([
      ['a path traversal', '../../../../etc/passwd', 'unknown key'],
      ['an SQL injection', "x' OR '1'='1'; drop table signing_keys; --", 'unknown key'],
      ['a 10 KB string', 'k'.repeat(10_240), 'malformed token'],
      ['a 200-character string', 'k'.repeat(200), 'unknown key'],
      ['a number', 42, 'unknown key'],
      ['an object', { $ne: null }, 'unknown key'],
      ['null', null, 'unknown key'],
    ])('refuses %s', async (_, kid, description) => {
      await expectRefused(await signWithHubKey(userClaims(), { kid }), description);
    });

    it('still has its signing keys after them', async () => {
      expect((await jwksOf(hub)).map((key) => key.kid)).toContain(hub.services.keys.signingKey().kid);
    });
  });

  describe('refused: a token that names its own key, and nothing is fetched', () => {
    let server: Server;
    let base: string;
    const requests: string[] = [];
    let attacker: SigningKey;
    let attackerJwk: JWK;
    beforeAll(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      attackerJwk = await exportJWK(pair.publicKey);
      attackerJwk.kid = await calculateJwkThumbprint(attackerJwk);
      attacker = { kid: attackerJwk.kid, privateKey: pair.privateKey };
      server = createServer((request: IncomingMessage, response) => {
        requests.push(request.url ?? '');
        response.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [{ ...attackerJwk, alg: 'ES256', use: 'sig' }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('serves the attacker key set to a client that does fetch it', async () => {
      const response = await fetch(`${base}/probe`);
      expect(((await response.json()) as { keys: JWK[] }).keys[0]?.kid).toBe(attacker.kid);
      expect(requests.splice(0)).toEqual(['/probe']);
    });

    it.each([
      ['a jku to the attacker key set', () => sign(attacker, userClaims(), { jku: `${base}/jwks.json` })],
      ['a jku with the hub kid', () => sign(attacker, userClaims(), { kid: hub.services.keys.signingKey().kid, jku: `${base}/jwks.json` })],
      ['an x5u to an attacker certificate', () => sign(attacker, userClaims(), { x5u: `${base}/cert.pem` })],
      ['the attacker jwk embedded, with the hub kid', () => sign(attacker, userClaims(), { kid: hub.services.keys.signingKey().kid, jwk: attackerJwk })],
      ['a jku on a token the hub key signed', () => signWithHubKey(userClaims(), { jku: `${base}/jwks.json` })],
    ])('refuses %s', async (_, token) => {
      await expectRefused(await token(), 'token names its own key');
      expect(requests).toEqual([]);
    });
  });
});

describe('signing key rotation', () => {
  const TTL = 60;
  const clock = fixedClock('2030-01-01T00:00:00Z');
  let hub: Hub;
  let user: Awaited<ReturnType<typeof signUpUser>>;
  let oldKey: SigningKey;
  let newKid: string;
  beforeAll(async () => {
    hub = await createHub(loadConfig({ ...TEST_ENV, HUB_ACCESS_TOKEN_TTL: String(TTL) }), { database: await createTestDatabase(), clock });
    user = await signUpUser(hub);
    oldKey = hub.services.keys.signingKey();
    clock.advance(10);
    newKid = await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), clock.now());
    await hub.services.keys.reload();
  });
  afterAll(() => hub.close());

  const me = (token: string) => graphql<{ me: { id: string } | null }>(hub, '{ me { id } }', { token });

  it('publishes the new and the retired key, and signs new tokens with the new one', async () => {
    expect((await jwksOf(hub)).map((key) => key.kid)).toEqual([newKid, oldKey.kid]);
    expect(decodeProtectedHeader(user.accessToken).kid).toBe(oldKey.kid);
    const issued = await hub.services.tokens.issueAccessToken({ sub: user.id, client_id: FRONTEND_CLIENT_ID, scope: 'profile:read' });
    expect(decodeProtectedHeader(issued.accessToken).kid).toBe(newKid);
    expect((await me(issued.accessToken)).data).toEqual({ me: { id: user.id } });
  });

  it('accepts a token of the retired key until it expires', async () => {
    clock.set('2030-01-01T00:00:50Z');
    expect((await me(user.accessToken)).data).toEqual({ me: { id: user.id } });
  });

  it('keeps the retired key published a while past the token lifetime, for instances not yet reloaded', async () => {
    clock.set(new Date(Date.parse('2030-01-01T00:00:10Z') + (TTL + 1) * 1_000));
    await hub.services.keys.reload();
    expect((await jwksOf(hub)).map((key) => key.kid)).toEqual([newKid, oldKey.kid]);
  });

  const retiredAt = new Date('2030-01-01T00:00:10Z');
  /** The latest `iat` of a token the retired key may have signed. */
  const lastIssued = epoch(signedUntil(retiredAt));
  /** A token signed with the retired key, issued at `iat` and living as long as verification allows (TTL and skew). */
  const signedWithOldKey = (iat: number) =>
    sign(oldKey, { iss: hub.config.issuer, aud: hub.config.audience, sub: user.id, client_id: FRONTEND_CLIENT_ID, scope: 'profile:read', iat, exp: iat + TTL + 60, jti: randomUUID() });
  const acceptedUntil = publishedUntil(retiredAt, TTL);
  /** Signed with the retired key as late as an instance may have; lives past the key's acceptance. */
  let signedLate: string;

  it('accepts what the retired key signed while an instance may still have signed with it, and refuses a token issued after', async () => {
    clock.set(signedUntil(retiredAt));
    signedLate = await signedWithOldKey(lastIssued);
    expect((await me(signedLate)).data).toEqual({ me: { id: user.id } });

    // Only a leaked copy of the key signs later: `hub keys rotate --now`'s case.
    const refused = await me(await signedWithOldKey(lastIssued + 1));
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="issued after its key was retired"');
  });

  it('lets /jwks.json be kept no longer than the retired key in it is accepted, nor than a key retired now would be', async () => {
    const maxAge = async (url = '/jwks.json') => Number(/max-age=(\d+)/.exec(String((await hub.http.inject({ method: 'GET', url })).headers['cache-control']))?.[1]);
    // A verifier that fetches the set 30 s before the key's end must not trust it for 5 minutes more.
    clock.set(new Date(acceptedUntil.getTime() - 30_000));
    expect((await jwksOf(hub)).map((key) => key.kid)).toEqual([newKid, oldKey.kid]);
    expect(await maxAge()).toBeLessThanOrEqual(30);
    // The receipts' set keeps every key that ever signed, so nothing in it ends: 5 minutes.
    expect(await maxAge('/receipts/jwks.json')).toBe(300);
    // Fetched just before a rotation elsewhere (seen here within a reread), it may be kept no longer
    // than the signing key then stays accepted: the token lifetime.
    clock.set(new Date(acceptedUntil.getTime() + 1_000));
    expect((await jwksOf(hub)).map((key) => key.kid)).toEqual([newKid]);
    expect(await maxAge()).toBe(TTL);
  });

  it('stops accepting the retired key at publishedUntil by the clock, before the keys are next reread', async () => {
    clock.set(new Date(acceptedUntil.getTime() - 30_000));
    expect((await me(signedLate)).data).toEqual({ me: { id: user.id } });

    clock.set(new Date(acceptedUntil.getTime() + 1_000));
    const refused = await me(await signedWithOldKey(lastIssued));
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="unknown key"');
  });

  it('stops publishing the retired key in /jwks.json at publishedUntil by the clock too, before the keys are next reread', async () => {
    // Still past acceptedUntil, with no reread since: a resource server fetching the key set now
    // would trust the key, maybe leaked, for the set's max-age while the hub refuses it.
    expect(clock.now().getTime()).toBeGreaterThan(acceptedUntil.getTime());
    expect((await jwksOf(hub)).map((key) => key.kid)).toEqual([newKid]);
    expect((await jwksOf(hub, '/receipts/jwks.json')).map((key) => key.kid)).toEqual([newKid, oldKey.kid]);
  });

  it('refuses a token it verified while its key was accepted, once the key no longer is', async () => {
    await hub.services.keys.reload();
    expect(await hub.services.keys.verificationKey(oldKey.kid)).toBeUndefined();
    expect(claimsOf(signedLate).exp * 1_000).toBeGreaterThan(clock.now().getTime());
    const refused = await me(signedLate);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="unknown key"');
  });

  it('stops accepting the retired key once it is past publishedUntil, and refuses what it signed (published for consent receipts only)', async () => {
    clock.set(new Date(publishedUntil(new Date('2030-01-01T00:00:10Z'), TTL).getTime() + 1_000));
    await hub.services.keys.reload();
    // A resource server verifying tokens offline against /jwks.json stops trusting it with the hub.
    expect((await jwksOf(hub)).map((key) => key.kid)).toEqual([newKid]);
    expect((await jwksOf(hub, '/receipts/jwks.json')).map((key) => key.kid)).toEqual([newKid, oldKey.kid]);

    const expired = await me(user.accessToken);
    expect(expired.status).toBe(401);
    expect(expired.headers['www-authenticate']).toMatch(/^Bearer realm="hub", error="invalid_token"/);

    const now = epoch(clock.now());
    const fresh = await sign(oldKey, {
      iss: hub.config.issuer,
      aud: hub.config.audience,
      sub: user.id,
      client_id: FRONTEND_CLIENT_ID,
      scope: 'profile:read',
      iat: now,
      exp: now + TTL,
      jti: randomUUID(),
    });
    const refused = await me(fresh);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="unknown key"');
    expect(refused.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });
});

describe('signing key rotation by another instance or the CLI', () => {
  const TTL = 60;
  let hub: Hub;
  let user: Awaited<ReturnType<typeof signUpUser>>;
  let oldKey: SigningKey;
  beforeAll(async () => {
    hub = await createHub(loadConfig({ ...TEST_ENV, HUB_ACCESS_TOKEN_TTL: String(TTL) }), { database: await createTestDatabase() });
    user = await signUpUser(hub);
    oldKey = hub.services.keys.signingKey();
    await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), new Date());
  });
  afterAll(async () => {
    vi.useRealTimers();
    await hub.close();
  });

  it('stops accepting the retired key when its acceptance ends, on an instance that has signed nothing and served no JWKS since', async () => {
    // Only Date is moved, past what `hub keys rotate` printed; timers run as they do.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(publishedUntil(new Date(), TTL).getTime() + 60_000);
    const now = epoch(new Date());
    const token = await sign(oldKey, { iss: hub.config.issuer, aud: hub.config.audience, sub: user.id, client_id: FRONTEND_CLIENT_ID, scope: 'profile:read', iat: now, exp: now + TTL, jti: randomUUID() });
    const refused = await graphql<{ me: { id: string } | null }>(hub, '{ me { id } }', { token });
    expect(refused.data?.me).toBeUndefined();
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="unknown key"');
  });
});

describe('signing keys at rest', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
  });
  afterAll(() => hub.close());

  it('stores the private key sealed: neither its PKCS#8 PEM, DER nor its private scalar is in the row', async () => {
    const row = await hub.database.db.selectFrom('signing_keys').selectAll().where('retired_at', 'is', null).executeTakeFirstOrThrow();
    const sealed = Buffer.from(row.private_key_encrypted);
    const pem = open(resolveKeyEncryptionKey(hub.config), sealed, row.kid).toString();
    const privateKey = createPrivateKey(pem);
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    const scalar = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');

    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(sealed.length).toBe(Buffer.byteLength(pem) + 12 + 16);
    for (const secret of [Buffer.from(pem), Buffer.from(pem.split('\n')[1]!), der, scalar]) expect(sealed.includes(secret)).toBe(false);
  });

  it('refuses to start with another HUB_KEY_ENCRYPTION_KEY, saying so', async () => {
    // A failed start closes the database it was given: this one stays the running hub's.
    const database = { ...hub.database, close: async () => {} };
    await expect(createHub(loadConfig({ ...TEST_ENV, HUB_KEY_ENCRYPTION_KEY: '1'.repeat(64) }), { database })).rejects.toThrow(
      /^signing key [\w-]+ cannot be decrypted: HUB_KEY_ENCRYPTION_KEY \(or, where it is unset, the key-encryption-key file in HUB_DATA_DIR\) is not the key it was sealed with$/,
    );
  });
});

describeEmbedded('hub keys', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, HUB_DATA_DIR: dir, LOG_LEVEL: 'silent', HUB_KEY_ENCRYPTION_KEY: '2'.repeat(64), HUB_ACCESS_TOKEN_TTL: '900' };
  let listed = '';

  it('has --help', async () => {
    const help = await runHub(env, 'keys', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: hub keys [\s\S]*rotate[\s\S]*list/);
  });

  it('refuses a folder without a database, and an unmigrated database with a hint', async () => {
    expect(await runHub(env, 'keys', 'rotate')).toMatchObject({ status: 1, stderr: `hub: no embedded database in HUB_DATA_DIR=${dir}: check the path (\`hub migrate up\` creates one)\n` });
    await createEmbeddedDatabase(dir);
    const result = await runHub(env, 'keys', 'rotate');
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('hub: the database has pending migrations: run `hub migrate up` first\n');
  }, 120_000);

  it('rotates and lists the keys on a PGlite data directory: a new key is published ahead of signing, unless --now', async () => {
    expect(await runHub(env, 'migrate', 'up')).toMatchObject({ status: 0, stderr: '' });
    const kid = String.raw`[\w-]{43}`;
    const iso = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
    const minutesAhead = (at: string | undefined) => (Date.parse(at ?? '') - Date.now()) / 60_000;

    const first = await runHub(env, 'keys', 'rotate');
    expect(first).toMatchObject({ status: 0, stderr: '' });
    const firstKid = new RegExp(`^rotated: new signing key (${kid}); there was no previous key\n$`).exec(first.stdout)?.[1];
    expect(firstKid).toBeDefined();

    const ahead = await runHub(env, 'keys', 'rotate');
    expect(ahead).toMatchObject({ status: 0, stderr: '' });
    const [, aheadKid, signsFrom, firstUntil] = new RegExp(`^rotated: new signing key (${kid}), published now, signs from (${iso}); previous key accepted for access tokens until (${iso})\n$`).exec(ahead.stdout) ?? [];
    // Past a /jwks.json cached for 5 min, a reread and clock skew: 7 min; then HUB_ACCESS_TOKEN_TTL and 2 min.
    expect(minutesAhead(signsFrom)).toBeGreaterThan(6.5);
    expect(minutesAhead(signsFrom)).toBeLessThanOrEqual(7);
    expect(Date.parse(firstUntil!) - Date.parse(signsFrom!)).toBe(900_000 + 120_000);
    const pending = (await runHub(env, 'keys', 'list')).stdout.trim().split('\n');
    expect(pending).toHaveLength(2);
    expect(pending[0]).toMatch(new RegExp(`^${aheadKid}  created ${iso}  retired -  published, signs from ${signsFrom}$`));
    expect(pending[1]).toMatch(new RegExp(`^${firstKid}  created ${iso}  retired ${signsFrom}  signing, published$`));

    const now = await runHub(env, 'keys', 'rotate', '--now');
    expect(now).toMatchObject({ status: 0, stderr: '' });
    const until = new RegExp(`^rotated: new signing key ${kid}, signing now; previous key accepted for access tokens until (${iso})\n$`).exec(now.stdout)?.[1];
    expect(minutesAhead(until)).toBeGreaterThan(11);

    const list = await runHub(env, 'keys', 'list');
    expect(list).toMatchObject({ status: 0, stderr: '' });
    listed = list.stdout;
    const lines = listed.trim().split('\n');
    expect(lines).toHaveLength(3);
    // --now cut short both the signing key and the one published ahead of it.
    expect(lines[0]).toMatch(new RegExp(`^${kid}  created ${iso}  retired -  signing, published$`));
    expect(lines[1]).toMatch(new RegExp(`^${aheadKid}  created ${iso}  retired ${iso}  published, accepted until ${until}$`));
    expect(lines[2]).toMatch(new RegExp(`^${firstKid}  created ${iso}  retired ${iso}  published, accepted until ${until}$`));
  }, 180_000);

  it('refuses to rotate with another HUB_KEY_ENCRYPTION_KEY, leaving the keys as they were', async () => {
    const result = await runHub({ ...env, HUB_KEY_ENCRYPTION_KEY: '3'.repeat(64) }, 'keys', 'rotate');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^hub: signing key [\w-]+ cannot be decrypted: HUB_KEY_ENCRYPTION_KEY \(or, where it is unset, the key-encryption-key file in HUB_DATA_DIR\) is not the key it was sealed with\n$/);
    expect(await runHub(env, 'keys', 'list')).toEqual({ status: 0, stdout: listed, stderr: '' });
  }, 120_000);

  it('lists a key retired longer ago than its tokens live as no longer accepted, kept for the receipts it signed', async () => {
    const oldest = listed.trim().split('\n').at(-1)!.split(' ')[0]!;
    const handle = openDatabase({ dataDir: dir });
    try {
      await handle.db.updateTable('signing_keys').set({ retired_at: new Date(Date.now() - 3_600_000) }).where('kid', '=', oldest).execute();
    } finally {
      await handle.close();
    }
    const lines = (await runHub(env, 'keys', 'list')).stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/ published, accepted until \S+$/);
    expect(lines[2]).toMatch(new RegExp(`^${oldest}  created \\S+  retired \\S+  no longer accepted, published for receipts only$`));
  }, 120_000);
});

const runHub = (env: Record<string, string | undefined>, ...args: string[]) => runNode(env, 'bin/hub.js', ...args);

describe('concurrent rotations', () => {
  it('take turns: every kid reported exists, exactly one key signs, and each rotation is audited', async () => {
    const database = await createTestDatabase();
    try {
      const hub = await createHub(loadConfig(TEST_ENV), { database });
      const kek = resolveKeyEncryptionKey(hub.config);
      const kids = await Promise.all(Array.from({ length: 4 }, () => rotateSigningKey(database.db, kek, new Date())));
      const rows = await database.db.selectFrom('signing_keys').select(['kid', 'retired_at']).execute();
      expect(new Set(kids).size).toBe(4);
      for (const kid of kids) expect(rows.map((row) => row.kid)).toContain(kid);
      expect(rows.filter((row) => row.retired_at === null)).toHaveLength(1);
      const audited = await database.db.selectFrom('audit_events').select('detail').where('action', '=', 'key.rotated').execute();
      expect(audited.map((row) => (row.detail as { kid: string }).kid).sort()).toEqual([...kids].sort());
      await hub.close();
    } finally {
      await database.close().catch(() => {});
    }
  });
});
