import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { deleteExpiredRevocations } from '../../src/oauth/token-state.queries.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { postForm, signUpUser, TEST_ENV } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorToken, registerAgent, type ClientCredentials, type RegisteredAgent } from '../helpers/oauth.js';

/**
 * A sub-agent's refresh tokens end when the parent's token they were exchanged from is revoked.
 * A revocation that commits while the child's offline exchange is between its check of the
 * parent's token and storing the family misses the new family; it is refused while the revoked
 * jti is remembered, and revoked for good before the jti is forgotten, once the parent's token
 * has expired.
 */

const DAY = 24 * 3_600;
const clock = fixedClock(new Date());
let hub: Hub;
let parent: RegisteredAgent;
let child: RegisteredAgent;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  const admin = await operatorToken(hub);
  parent = await registerAgent(hub, admin, { name: 'Parent', allowedScopes: ['orders:read', 'offline_access'] });
  child = await registerAgent(hub, admin, { name: 'Child', allowedScopes: ['orders:read', 'offline_access'], parentAgentId: parent.id });
});
afterAll(() => hub.close());

const refresh = (client: ClientCredentials, refreshToken: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken }, basic(client));
const revoke = (client: ClientCredentials, token: string) => postForm(hub, '/oauth/revoke', { token }, basic(client));

describe("a sub-agent's offline exchange racing the revocation of the parent's token", () => {
  it('leaves a refresh family refused for good, not only while the revoked jti is remembered', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: parent.id, scopes: ['orders:read'] });
    const parentPair = (await exchange(hub, parent, user.accessToken, { scope: 'orders:read offline_access' })).body;
    expect(parentPair.refresh_token).toBeDefined();

    // The parent revokes its access token right after the child's exchange has checked it.
    const tokens = hub.services.tokens as { inspect: (token: string) => Promise<unknown> };
    const original = tokens.inspect;
    let fired = false;
    tokens.inspect = async (token: string) => {
      const answer = await original(token);
      if (!fired && token === parentPair.access_token) {
        fired = true;
        expect((await revoke(parent, parentPair.access_token)).status).toBe(200);
      }
      return answer;
    };
    const childResponse = await exchange(hub, child, parentPair.access_token, { scope: 'orders:read offline_access' });
    tokens.inspect = original;
    expect(fired).toBe(true);
    expect(childResponse.status).toBe(200);
    const childRefresh = childResponse.body.refresh_token as string;

    // While the revoked jti is remembered, the child's family is refused...
    expect(await refresh(child, childRefresh)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // ...and after the parent's token expired and its revocation was forgotten, still refused.
    clock.advance(DAY);
    await deleteExpiredRevocations(hub.database.db, clock.now());
    expect(await refresh(child, childRefresh)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});
