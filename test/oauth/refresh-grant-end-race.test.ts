import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

/**
 * An agent's refresh locks the token it uses, then inserts the next, whose foreign keys take FOR
 * KEY SHARE on its consent and agent. Superseding the consent or decommissioning the agent locks
 * them, then revokes the consent's or the agent's refresh tokens, waiting for the one the refresh
 * holds: were those locks FOR UPDATE, each would wait for the other and PostgreSQL would end one
 * with a deadlock, a 500. And whichever commits first, the family ends with the grant.
 */
const isServerError = (status: number, body: unknown) => status >= 500 || JSON.stringify(body).includes('INTERNAL_SERVER_ERROR');

describe.skipIf(testServerUrl() === undefined)('an agent refresh racing the end of its consent', () => {
  let hub: Hub;
  let admin: string;
  let agent: RegisteredAgent;

  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
    admin = await operatorToken(hub);
    agent = await registerAgent(hub, admin, { name: 'Offline', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  });
  afterAll(() => hub.close());

  async function offlineFamily(a: RegisteredAgent) {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: a.id, scopes: ['orders:read'] });
    const ex = await exchange(hub, a, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' });
    expect(ex.status).toBe(200);
    return { user, refreshToken: ex.body.refresh_token as string };
  }
  const refresh = (a: RegisteredAgent, token: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: token }, basic(a));

  it('20 refreshes each racing a superseding consent answer without a server error', async () => {
    const errors: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { user, refreshToken } = await offlineFamily(agent);
      const [given, refreshed] = await Promise.all([
        graphql<any>(hub, 'mutation($i: GiveConsentInput!) { giveConsent(input: $i) { id } }', {
          token: user.accessToken,
          variables: { i: { purpose: 'support', agentId: agent.id, scopes: ['orders:read', 'contact:read'] } },
        }),
        refresh(agent, refreshToken),
      ]);
      if (isServerError(given.status, given)) errors.push(`give ${JSON.stringify(given.errors)}`);
      if (isServerError(refreshed.status, refreshed.body)) errors.push(`refresh ${JSON.stringify(refreshed.body)}`);
      if (refreshed.status === 200 && (await refresh(agent, refreshed.body.refresh_token)).status !== 400) errors.push('the family outlived its consent');
    }
    expect(errors).toEqual([]);
  });

  it('the decommissioning of the agent: both answer without a server error', async () => {
    const errors: string[] = [];
    for (let i = 0; i < 10; i++) {
      const a = await registerAgent(hub, admin, { name: 'Offline', allowedScopes: ['orders:read', 'offline_access'] });
      const { refreshToken } = await offlineFamily(a);
      const [ended, refreshed] = await Promise.all([graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { id } }', { token: admin, variables: { id: a.id } }), refresh(a, refreshToken)]);
      if (isServerError(ended.status, ended)) errors.push(`decommission ${JSON.stringify(ended.errors)}`);
      if (isServerError(refreshed.status, refreshed.body)) errors.push(`refresh ${JSON.stringify(refreshed.body)}`);
      const families = await hub.services.db.selectFrom('refresh_tokens').select('family_id').where('client_id', '=', a.id).where('revoked_at', 'is', null).where('rotated_at', 'is', null).execute();
      for (const { family_id } of families) {
        const revoked = await hub.services.db.selectFrom('refresh_tokens').select('id').where('family_id', '=', family_id).where('revoked_at', 'is not', null).execute();
        if (revoked.length === 0) errors.push('a family outlived its agent');
      }
    }
    expect(errors).toEqual([]);
  });
});
