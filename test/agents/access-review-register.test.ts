import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { findAgentFacts } from '../../src/agents/access-review.queries.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
});
afterAll(() => hub.close());

describe('the access review’s register', () => {
  it('holds the agents not decommissioned, so agents registered and decommissioned in numbers push no newer one out of it', async () => {
    const operator = (await hub.services.db.selectFrom('agents').select('id').executeTakeFirstOrThrow()).id;
    for (let i = 0; i < 3; i++) {
      const churned = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
      const decommissioned = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id: churned.id } });
      expect(decommissioned.data.decommissionAgent.status).toBe('DECOMMISSIONED');
    }
    const newest = await registerAgent(hub, admin, { allowedScopes: ['users:admin'] });
    const now = hub.services.clock.now();
    // Room for two agents: the operator console and the newest, past the three decommissioned between them.
    const facts = await findAgentFacts(hub.services.db, { since: new Date(now.getTime() - 86_400_000), now }, 2);
    expect(facts.map((f) => f.agent.id).sort()).toEqual([operator, newest.id].sort());
  });

  it('keeps a decommissioned ancestor of an agent that is not, as older data may hold one', async () => {
    const parent = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const child = await registerAgent(hub, admin, { allowedScopes: ['orders:read'], parentAgentId: parent.id });
    // As decommissioning left descendants before it took them along.
    await hub.services.db.updateTable('agents').set({ status: 'decommissioned' }).where('id', '=', parent.id).execute();
    const now = hub.services.clock.now();
    const ids = (await findAgentFacts(hub.services.db, { since: new Date(now.getTime() - 86_400_000), now }, 1_000)).map((f) => f.agent.id);
    expect(ids).toEqual(expect.arrayContaining([parent.id, child.id]));
  });

  it('counts among what an agent was granted the scopes its consents in force give, beside its ceiling', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['contact:read'] });
    const alice = await signUpUser(hub);
    await giveConsent(hub, alice.accessToken, { agentId: agent.id, scopes: ['contact.email:read'] });
    const body = await graphql<any>(hub, 'query { accessReview { register(first: 100) { edges { node { agent { id } consentScopes usedScopes unusedScopes } } } } }', { token: admin });
    expect(body.errors).toBeUndefined();
    const entry = body.data.accessReview.register.edges.map((e: any) => e.node).find((n: any) => n.agent.id === agent.id);
    expect(entry).toEqual({ agent: { id: agent.id }, consentScopes: ['contact.email:read'], usedScopes: [], unusedScopes: ['contact.email:read', 'contact:read'] });
  });
});
