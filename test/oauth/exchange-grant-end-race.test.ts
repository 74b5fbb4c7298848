import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

/**
 * An offline token exchange reads the user's consents as it begins, and stores the refresh family
 * at its end, holding the consent and the agents it stands on: a withdrawal or decommissioning
 * that committed in between refuses the exchange, which then issues nothing and leaves no family.
 */
describe.skipIf(testServerUrl() === undefined)('an offline token exchange racing the end of its grant', () => {
  let hub: Hub;
  let admin: string;
  let agent: RegisteredAgent;
  const { holding, waiters } = lockHolder(() => hub.services.db);

  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
    admin = await operatorToken(hub);
    agent = await registerAgent(hub, admin, { name: 'Offline', allowedScopes: ['orders:read', 'offline_access'] });
  });
  afterAll(() => hub.close());

  /** An exchange for `user`'s new session, waiting, after reading its grounds, until `end` has run. */
  async function racing(user: Awaited<ReturnType<typeof signUpUser>>, exchanger: RegisteredAgent, end: () => Promise<void>) {
    const subject = (await signIn(hub, user)).accessToken;
    // The exchange has read its consent and waits to lock the user's row before storing the family.
    const held = await holding((tx) => sql`select 1 from users where id = ${user.id} for no key update`.execute(tx));
    const exchanging = exchange(hub, exchanger, subject, { scope: 'orders:read offline_access' });
    await waiters(1);
    await end();
    await held.release();
    return exchanging;
  }

  it('issues no token, and leaves no live refresh family, once the withdrawal has committed', async () => {
    const user = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
    const answer = await racing(user, agent, async () => {
      const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: user.accessToken, variables: { id: consentId } });
      expect(withdrawn.data?.withdrawConsent.status).toBe('WITHDRAWN');
    });

    const unrevoked = await sql<{ id: string }>`select id from refresh_tokens where consent_id = ${consentId} and revoked_at is null`.execute(hub.services.db);
    // The consent was withdrawn before the family was stored: nothing may stand on it.
    expect({ status: answer.status, unrevokedRefreshRows: unrevoked.rows.length }).toEqual({ status: 400, unrevokedRefreshRows: 0 });
    expect(answer.body.error).toBe('invalid_request');
  });

  it('the same once the agent’s decommissioning has committed', async () => {
    const doomed = await registerAgent(hub, admin, { name: 'Doomed', allowedScopes: ['orders:read', 'offline_access'] });
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: doomed.id, scopes: ['orders:read'] });
    const answer = await racing(user, doomed, async () => {
      const ended = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id: doomed.id } });
      expect(ended.data?.decommissionAgent.status).toBe('DECOMMISSIONED');
    });
    const unrevoked = await sql<{ id: string }>`select id from refresh_tokens where client_id = ${doomed.id} and revoked_at is null`.execute(hub.services.db);
    expect({ status: answer.status, unrevokedRefreshRows: unrevoked.rows.length }).toEqual({ status: 400, unrevokedRefreshRows: 0 });
  });

  it('stores the family when nothing ended meanwhile', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
    const answer = await racing(user, agent, async () => {});
    expect(answer.status).toBe(200);
    expect(answer.body.refresh_token).toEqual(expect.any(String));
  });
});
