import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, postForm, signUpUser } from '../helpers/hub.js';
import { basic, claimsOf, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// A resource server that verifies the hub's tokens offline (RFC 9068, against /jwks.json) sees
// only `exp`: a token that lives past its agent's expiry is honoured there after the agent ended.
const clock = fixedClock(new Date('2031-03-01T10:00:00.000Z'));
let hub: Hub;
let agent: RegisteredAgent;
/** Whole seconds since the epoch at which the agent expires, 90 s from now: within the 600 s tokens live. */
const agentExpiry = Math.floor(clock.now().getTime() / 1_000) + 90;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  agent = await registerAgent(hub, await operatorToken(hub), {
    allowedScopes: ['orders:read', 'offline_access'],
    expiresAt: new Date(agentExpiry * 1_000).toISOString(),
  });
});
afterAll(() => hub.close());

describe('a token issued to an agent that expires', () => {
  it('of its own (client_credentials) ends when the agent does', async () => {
    const response = await postForm(hub, '/oauth/token', { grant_type: 'client_credentials', scope: 'orders:read' }, basic(agent));
    expect(response.status).toBe(200);
    expect(response.body.expires_in).toBe(90);
    expect(claimsOf(response.body.access_token).exp).toBe(agentExpiry);
  });

  it('for a user (token exchange), and each one a refresh gives it, ends when the agent does', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const exchanged = await exchange(hub, agent, user.accessToken, { scope: 'orders:read offline_access' });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body.expires_in).toBe(90);
    expect(claimsOf(exchanged.body.access_token).exp).toBe(agentExpiry);

    clock.advance(30);
    const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token }, basic(agent));
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.expires_in).toBe(60);
    expect(claimsOf(refreshed.body.access_token).exp).toBe(agentExpiry);
  });
});
