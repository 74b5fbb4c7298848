import { randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { publishedUntil } from '../../src/oauth/key-schedule.js';
import { rotateSigningKey, type SigningKey } from '../../src/oauth/key-store.js';
import { PAYMENT_TOKEN_TTL, paymentAudience, verifyPaymentToken } from '../../src/oauth/payment-token.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV } from '../helpers/hub.js';

// README: a payment token is checked by the commerce API "offline against /jwks.json", and
// `hub keys rotate --now` is the answer to a key that may have leaked. The hub itself stops
// accepting the retired key after publishedUntil; a verifier that trusts /jwks.json cannot tell,
// so the JWKS must stop offering a retired key for access and payment tokens by then.
const TTL = 60;
const clock = fixedClock('2030-01-01T00:00:00Z');
let hub: Hub;
let leaked: SigningKey;
beforeAll(async () => {
  hub = await createHub(loadConfig({ ...TEST_ENV, HUB_ACCESS_TOKEN_TTL: String(TTL) }), { database: await createTestDatabase(), clock });
  leaked = hub.services.keys.signingKey();
  clock.advance(10);
  // `hub keys rotate --now`: the key may have leaked.
  await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), clock.now());
  clock.set(new Date(publishedUntil(clock.now(), TTL).getTime() + 24 * 3_600_000));
  await hub.services.keys.reload();
});
afterAll(() => hub.close());

describe('/jwks.json after a key is retired with `hub keys rotate --now`', () => {
  it('no longer lets an offline verifier accept a payment token forged with the retired key, which the hub refuses', async () => {
    const now = Math.floor(clock.now().getTime() / 1_000);
    const audience = paymentAudience(hub.config.issuer);
    const forged = await new SignJWT({
      client_id: 'agt_01J0000000000000000000EVIL',
      scope: 'payment:write',
      act: { sub: 'agt_01J0000000000000000000EVIL' },
      consent_id: 'cns_01J0000000000000000000EVIL',
      purpose: 'checkout',
      authorization_details: [{ type: 'payment_initiation', instructedAmount: { currency: 'EUR', amount: '9999.00' }, creditorName: 'Mallory' }],
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: leaked.kid })
      .setIssuer(audience.issuer)
      .setAudience(audience.audience)
      .setSubject('usr_VICTIM')
      .setIssuedAt(now)
      .setExpirationTime(now + PAYMENT_TOKEN_TTL)
      .setJti(randomUUID())
      .sign(leaked.privateKey);
    // The hub no longer accepts the key.
    expect(await verifyPaymentToken(hub.services, forged)).toBeUndefined();
    // The commerce API, verifying against the published key set as the README tells it to:
    const response = await hub.http.inject({ method: 'GET', url: '/jwks.json' });
    const jwks = createLocalJWKSet(JSON.parse(response.body) as { keys: JWK[] });
    await expect(jwtVerify(forged, jwks, { issuer: audience.issuer, audience: audience.audience, typ: 'at+jwt', currentDate: clock.now() })).rejects.toThrow();
  });
});
