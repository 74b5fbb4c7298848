import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { issueAccessToken } from '../../src/oauth/access-token.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { PUBLISHED_AHEAD_MS, RELOAD_EVERY_MS } from '../../src/oauth/key-schedule.js';
import { KeyStore, rotateSigningKey } from '../../src/oauth/key-store.js';
import { FRONTEND_CLIENT_ID } from '../../src/oauth/token.service.js';
import { fixedClock, systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, TEST_PASSWORD, graphql, signUpUser } from '../helpers/hub.js';

/**
 * A rotation made elsewhere (`hub keys rotate`, or another instance) reaches an instance that is
 * not told of it: by its timer, idle or not, and at once for a token naming the new key.
 */
describe('signing keys rotated by another instance', () => {
  let hub: Hub;
  let user: Awaited<ReturnType<typeof signUpUser>>;
  const kek = () => resolveKeyEncryptionKey(hub.config);
  const rotateElsewhere = () => rotateSigningKey(hub.database.db, kek(), new Date());
  /** Rotates by another instance, which signs a token of the user with the new key at once. */
  async function tokenOfAKeyRotatedElsewhere(): Promise<string> {
    const newKid = await rotateElsewhere();
    const elsewhere = await KeyStore.open(hub.database.db, kek(), systemClock, hub.config.accessTokenTtl, hub.services.logger);
    elsewhere.close();
    const claims = { sub: user.id, client_id: FRONTEND_CLIENT_ID, scope: 'profile:read' };
    const { accessToken } = await issueAccessToken(elsewhere, { issuer: hub.config.issuer, audience: hub.config.audience }, claims, { now: new Date(), ttlSeconds: 300 });
    expect(decodeProtectedHeader(accessToken).kid).toBe(newKid);
    expect(hub.services.keys.signingKey().kid).not.toBe(newKid);
    return accessToken;
  }
  const kidsPublished = async () => (JSON.parse((await hub.http.inject({ method: 'GET', url: '/jwks.json' })).body) as { keys: JWK[] }).keys.map((key) => key.kid);

  beforeAll(async () => {
    // The key store's timer is set as the hub starts: faked from then on, so the test moves it.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
    user = await signUpUser(hub);
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    vi.useRealTimers();
    await hub.close();
  });

  it('are picked up by an idle instance within a minute: it signs with the new key and publishes it', async () => {
    const oldKid = hub.services.keys.signingKey().kid;
    const newKid = await rotateElsewhere();
    // No request in between: only the timer can tell the instance.
    await vi.advanceTimersByTimeAsync(RELOAD_EVERY_MS / 2);
    await vi.waitFor(() => expect(hub.services.keys.signingKey().kid).toBe(newKid), { timeout: 10_000 });

    expect(await kidsPublished()).toEqual(expect.arrayContaining([newKid, oldKid]));
    const signedIn = await graphql<{ signIn: { accessToken: string } }>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }', {
      variables: { input: { email: user.email, password: TEST_PASSWORD } },
    });
    expect(signedIn.errors).toBeUndefined();
    const token = signedIn.data!.signIn.accessToken;
    expect(decodeProtectedHeader(token).kid).toBe(newKid);
    expect((await me(hub, token)).data?.me).toEqual({ id: user.id });
    const keys = (JSON.parse((await hub.http.inject({ method: 'GET', url: '/jwks.json' })).body) as { keys: JWK[] }).keys;
    await expect(jwtVerify(token, createLocalJWKSet({ keys }), { issuer: hub.config.issuer })).resolves.toBeDefined();
  });

  it('are accepted at once in a token naming the new key, though a made-up kid came just before', async () => {
    const junk = `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: randomUUID() })).toString('base64url')}.e30.AAAA`;
    expect((await me(hub, junk)).status).toBe(401);
    const answer = await me(hub, await tokenOfAKeyRotatedElsewhere());
    expect(answer.headers['www-authenticate']).toBeUndefined();
    expect(answer.data?.me).toEqual({ id: user.id });
  });

  it('are accepted at once in a token naming the new key, though a reread under way read the keys before it was stored', async () => {
    // The timer's reread, in flight since before the rotation: it ends with the keys it read then.
    const store = hub.services.keys as unknown as { reloading: Promise<void> | undefined };
    let finish!: () => void;
    store.reloading = new Promise<void>((resolve) => (finish = resolve));
    const answering = me(hub, await tokenOfAKeyRotatedElsewhere());
    // Once the token's request has looked its kid up and met the reread under way, that reread ends.
    await new Promise((resolve) => setTimeout(resolve, 200));
    store.reloading = undefined;
    finish();
    const answer = await answering;
    expect(answer.headers['www-authenticate']).toBeUndefined();
    expect(answer.data?.me).toEqual({ id: user.id });
  });

  it('are not reread for a kid the database does not hold as accepted, nor for one retired past its acceptance', async () => {
    // A key retired years ago, kept only for the consent receipts it signed.
    const current = await hub.database.db.selectFrom('signing_keys').selectAll().where('retired_at', 'is', null).executeTakeFirstOrThrow();
    const retiredKid = randomUUID();
    await hub.database.db.insertInto('signing_keys')
      .values({ ...current, kid: retiredKid, public_jwk: JSON.stringify({ ...current.public_jwk, kid: retiredKid }), created_at: new Date('2020-01-01'), retired_at: new Date('2020-01-02') })
      .execute();
    const reload = vi.spyOn(hub.services.keys, 'reload');
    for (const kid of [randomUUID(), 'x'.repeat(128), retiredKid]) {
      const junk = `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid })).toString('base64url')}.e30.AAAA`;
      expect((await me(hub, junk)).status).toBe(401);
    }
    expect(reload).not.toHaveBeenCalled();
  });
});

/**
 * A reread that fails (the database unreachable, a key sealed under another instance's
 * HUB_KEY_ENCRYPTION_KEY) leaves the instance on the keys it read before: an operator must be told,
 * once, and once more when rereads work again.
 */
describe('signing keys that cannot be reread', () => {
  const lines: string[] = [];
  let hub: Hub;
  beforeAll(async () => {
    const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: 'info' });
    hub = await createHub(config, { database: await createTestDatabase(), logger: createLogger(config, { write: (line: string) => lines.push(line) }) });
  });
  afterAll(() => hub.close());
  const keyLines = () => lines.map((line) => JSON.parse(line) as Record<string, any>).filter((line) => /^keys: /.test(line.msg));

  it('are logged once at warn with the reason, and once at info when a reread works again', async () => {
    const kept = hub.services.keys.signingKey().kid;
    await rotateSigningKey(hub.database.db, Buffer.alloc(32, 7), new Date());
    for (let i = 0; i < 3; i++) await expect(hub.services.keys.reload()).rejects.toThrow(/cannot be decrypted/);
    expect(hub.services.keys.signingKey().kid).toBe(kept);
    expect(keyLines()).toEqual([expect.objectContaining({ level: 40, reason: expect.stringMatching(/cannot be decrypted: HUB_KEY_ENCRYPTION_KEY \(or, where it is unset, the key-encryption-key file in HUB_DATA_DIR\) is not the key it was sealed with/) })]);
    expect(keyLines()[0]!.err).toBeUndefined();

    const fixed = await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), new Date());
    await hub.services.keys.reload();
    await hub.services.keys.reload();
    expect(hub.services.keys.signingKey().kid).toBe(fixed);
    expect(keyLines().map((line) => line.level)).toEqual([40, 30]);
  });
});

/**
 * `hub keys rotate` publishes a new key PUBLISHED_AHEAD_MS before it signs, so a verifier holding
 * a `/jwks.json` fetched at the rotation, kept as long as its max-age allows, holds the key of
 * every token: the key signs from its time by each instance's clock, with no reread.
 */
describe('a signing key published ahead of its use', () => {
  const clock = fixedClock('2031-03-01T00:00:00Z');
  let hub: Hub;
  let user: Awaited<ReturnType<typeof signUpUser>>;
  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
    user = await signUpUser(hub);
  });
  afterAll(() => hub.close());

  const jwksResponse = async () => {
    const response = await hub.http.inject({ method: 'GET', url: '/jwks.json' });
    return { keys: (JSON.parse(response.body) as { keys: JWK[] }).keys, maxAge: Number(/max-age=(\d+)/.exec(String(response.headers['cache-control']))?.[1]) };
  };
  const tokenNow = async () =>
    (await issueAccessToken(hub.services.keys, { issuer: hub.config.issuer, audience: hub.config.audience }, { sub: user.id, client_id: FRONTEND_CLIENT_ID, scope: 'profile:read' }, { now: clock.now(), ttlSeconds: 300 })).accessToken;

  it('is in /jwks.json before any token names it, past the max-age of a key set fetched just before', async () => {
    const oldKid = hub.services.keys.signingKey().kid;
    const cached = await jwksResponse();
    clock.advance(1);
    const rotatedAt = clock.now();
    const newKid = await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), rotatedAt, new Date(rotatedAt.getTime() + PUBLISHED_AHEAD_MS));
    await hub.services.keys.reload();

    expect((await jwksResponse()).keys.map((key) => key.kid)).toEqual([newKid, oldKid]);
    // A verifier that fetched the key set just before the rotation may keep it until then.
    clock.set(new Date(rotatedAt.getTime() + cached.maxAge * 1_000));
    expect(decodeProtectedHeader(await tokenNow()).kid).toBe(oldKid);
    clock.set(new Date(rotatedAt.getTime() + PUBLISHED_AHEAD_MS - 1));
    expect(hub.services.keys.signingKey().kid).toBe(oldKid);

    clock.set(new Date(rotatedAt.getTime() + PUBLISHED_AHEAD_MS));
    const token = await tokenNow();
    expect(decodeProtectedHeader(token).kid).toBe(newKid);
    expect((await me(hub, token)).data?.me).toEqual({ id: user.id });
    const refetched = await jwksResponse();
    await expect(jwtVerify(token, createLocalJWKSet({ keys: refetched.keys }), { issuer: hub.config.issuer, currentDate: clock.now() })).resolves.toBeDefined();
  });

  it('is cut short, with the key that signs, by a rotation that signs at once', async () => {
    const before = hub.services.keys.signingKey().kid;
    const ahead = await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), clock.now(), new Date(clock.now().getTime() + PUBLISHED_AHEAD_MS));
    const now = await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), clock.now());
    await hub.services.keys.reload();
    expect(hub.services.keys.signingKey().kid).toBe(now);
    clock.advance(PUBLISHED_AHEAD_MS / 1_000);
    expect(hub.services.keys.signingKey().kid).toBe(now);
    expect(new Set([before, ahead, now]).size).toBe(3);
  });
});

const me = (hub: Hub, token: string) => graphql<{ me: { id: string } | null }>(hub, '{ me { id } }', { token });
