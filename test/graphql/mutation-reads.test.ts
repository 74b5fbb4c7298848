import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
  admin = await operatorToken(hub);
});
afterAll(() => hub.close());

const connected = `user { connectedAgents { consent { id status } } }`;

describe('the fields of one mutation', () => {
  it('read what the fields before them changed, not what an earlier field loaded', async () => {
    const alice = await signUpUser(hub);
    const agent = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read'] });
    const consentId = await giveConsent(hub, alice.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const response = await graphql<any>(
      hub,
      `mutation($id: ID!) {
        before: giveConsent(input: { purpose: "email_marketing" }) { ${connected} }
        withdrawn: withdrawConsent(id: $id) { status ${connected} }
        after: giveConsent(input: { purpose: "personalization" }) { ${connected} }
      }`,
      { token: alice.accessToken, variables: { id: consentId } },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data.before.user.connectedAgents).toEqual([{ consent: { id: consentId, status: 'ACTIVE' } }]);
    expect(response.data.withdrawn).toEqual({ status: 'WITHDRAWN', user: { connectedAgents: [] } });
    expect(response.data.after.user.connectedAgents).toEqual([]);
  });

});
