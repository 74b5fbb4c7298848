import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { rotateSigningKey } from '../../src/oauth/key-store.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { CONTROLLER_ENV, TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

/**
 * RFC 9728 §2: a protected resource's `jwks_uri` holds the keys the resource itself signs its
 * responses with. The GraphQL API's signed responses are consent receipts, which live for years.
 */
const clock = fixedClock('2031-05-01T10:00:00Z');
let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig({ ...TEST_ENV, ...CONTROLLER_ENV, HUB_ISSUER: 'https://hub.example.com' }), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

const get = async (url: string) => JSON.parse((await hub.http.inject({ method: 'GET', url })).body);

describe('the jwks_uri of the GraphQL resource’s metadata (RFC 9728)', () => {
  it('verifies the consent receipts the resource answers with, also once the key that signed them is retired', async () => {
    const admin = await operatorToken(hub);
    const alice = await signUpUser(hub);
    const assistant = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read'] });
    const id = await giveConsent(hub, alice.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const read = await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { receipt } }', { token: alice.accessToken, variables: { id } });
    const { receipt } = read.data.consent;

    await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), clock.now());
    clock.advance(30 * 86_400);
    await hub.services.keys.reload();

    const metadata = await get('/.well-known/oauth-protected-resource/graphql');
    const { origin, pathname } = new URL(metadata.jwks_uri);
    expect(origin).toBe('https://hub.example.com');
    const keys = createLocalJWKSet((await get(pathname)) as JSONWebKeySet);
    await expect(jwtVerify(receipt, keys, { issuer: hub.config.issuer, typ: 'consent-receipt+jwt', currentDate: clock.now() })).resolves.toBeTruthy();
  });
});
