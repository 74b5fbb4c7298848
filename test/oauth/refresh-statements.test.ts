import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { StatementLog, startCountedHub } from '../helpers/statements.js';

const log = new StatementLog();
let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let assistant: RegisteredAgent;

beforeAll(async () => {
  hub = await startCountedHub(log);
  const admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  assistant = await registerAgent(hub, admin, { allowedScopes: ['orders:read', 'offline_access'] });
  await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'] });
});
afterAll(() => hub.close());

/**
 * A refresh runs in one transaction that holds the used token's row: what stands behind the token
 * (its family, its user, and for an agent its chain, consent and the grants it was exchanged
 * from) is one statement, as the token check of a request is.
 */
describe('what a refresh checks of the grant behind its token', () => {
  it('is one statement for a user’s session', async () => {
    const { refreshToken } = await signIn(hub, alice);
    const response = await log.during(() => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'hub-frontend' }));
    expect(response.status).toBe(200);
    expect(log.matching(/from refresh_tokens where family_id = \$1 and revoked_at is not null/)).toEqual([]);
    expect({ statements: log.statements.length, roundTrips: log.roundTrips }).toEqual({ statements: 10, roundTrips: 10 });
  });

  it('is one statement for an agent’s delegated access', async () => {
    const handed = await signIn(hub, alice);
    const pair = await exchange(hub, assistant, handed.accessToken, { scope: 'orders:read offline_access' });
    expect(pair.status).toBe(200);
    const response = await log.during(() => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: pair.body.refresh_token }, basic(assistant)));
    expect(response.status).toBe(200);
    expect(log.matching(/from refresh_tokens where family_id = \$1 and revoked_at is not null/)).toEqual([]);
    expect({ statements: log.statements.length, roundTrips: log.roundTrips }).toEqual({ statements: 10, roundTrips: 10 });
  });
});
