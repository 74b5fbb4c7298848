import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, signUpUser, startTestHub } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
let alicesAgent: RegisteredAgent;
let operatorsAgent: RegisteredAgent;
beforeAll(async () => {
  hub = await startTestHub();
  alice = await signUpUser(hub);
  bob = await signUpUser(hub);
  alicesAgent = await registerAgent(hub, alice.accessToken, { name: 'Alice’s assistant', allowedScopes: ['orders:read'] });
  operatorsAgent = await registerAgent(hub, await operatorToken(hub), { name: 'Support desk', allowedScopes: ['orders:read'] });
  await giveConsent(hub, bob.accessToken, { agentId: alicesAgent.id, scopes: ['orders:read'] });
  await giveConsent(hub, bob.accessToken, { agentId: operatorsAgent.id, scopes: ['orders:read'] });
});
afterAll(() => hub.close());

const CONNECTED = 'query($id: ID!) { user(id: $id) { connectedAgents { agent { id ownerKind owner { id } } } } }';
const AGENT = 'query($id: ID!) { agent(id: $id) { id owner { id } } }';

/** Each connected agent by id, and `CODE/REASON` of each error by the agent it is on. */
async function connectedAgents(token: string) {
  const response = await graphql<any>(hub, CONNECTED, { token, variables: { id: bob.id } });
  const agents = response.data.user.connectedAgents.map((c: any) => c.agent);
  const errors = (response.errors ?? []).map((e) => ({ agent: agents[e.path![2] as number].id, path: e.path!.slice(4), refusal: `${e.extensions?.code}/${e.extensions?.reason}` }));
  return { agents: Object.fromEntries(agents.map((a: any) => [a.id, a])), errors };
}

describe('the owner of an agent', () => {
  it('is refused, NOT_SUBJECT, to a user who consented to another user’s agent', async () => {
    const { agents, errors } = await connectedAgents(bob.accessToken);
    expect(agents[alicesAgent.id]).toEqual({ id: alicesAgent.id, ownerKind: 'USER', owner: null });
    expect(errors).toEqual([{ agent: alicesAgent.id, path: ['owner'], refusal: 'FORBIDDEN/NOT_SUBJECT' }]);
    expect(JSON.stringify(agents)).not.toContain(alice.id);
    // In Alice's trail, as every refusal of another user is.
    await hub.services.audit.flush();
    const refused = await hub.services.db
      .selectFrom('audit_events')
      .select(['action', 'fields_denied', 'reason'])
      .where('subject_user_id', '=', alice.id)
      .where('actor_id', '=', bob.id)
      .where('decision', '=', 'deny')
      .execute();
    expect(refused).toEqual([{ action: 'profile.read', fields_denied: ['user'], reason: 'NOT_SUBJECT' }]);
  });

  it('is null without an error for an agent the operators own', async () => {
    const { agents } = await connectedAgents(bob.accessToken);
    expect(agents[operatorsAgent.id]).toEqual({ id: operatorsAgent.id, ownerKind: 'OPERATOR', owner: null });
  });

  it('is refused, MISSING_SCOPE, to an operator without agents:admin', async () => {
    const { agents, errors } = await connectedAgents(await clientToken(hub, ['users:admin', 'consents:admin']));
    expect(agents[alicesAgent.id].owner).toBeNull();
    expect(errors).toEqual([{ agent: alicesAgent.id, path: ['owner'], refusal: 'FORBIDDEN/MISSING_SCOPE' }]);
  });

  it('resolves for the owner and for agents:admin', async () => {
    const mine = await graphql<any>(hub, AGENT, { token: alice.accessToken, variables: { id: alicesAgent.id } });
    expect(mine.errors).toBeUndefined();
    expect(mine.data.agent).toEqual({ id: alicesAgent.id, owner: { id: alice.id } });
    const operator = await graphql<any>(hub, AGENT, { token: await clientToken(hub, ['agents:admin'], 'agt_01J0000000000000000000OWNR'), variables: { id: alicesAgent.id } });
    expect(operator.errors).toBeUndefined();
    expect(operator.data.agent.owner).toEqual({ id: alice.id });
    // Shown to an operator, her id is in her trail, as the user list's ids are; her own read is not.
    await hub.services.audit.flush();
    const reads = await hub.services.db
      .selectFrom('audit_events')
      .select(['actor_id', 'fields_read'])
      .where('action', '=', 'profile.read')
      .where('subject_user_id', '=', alice.id)
      .where('decision', '=', 'allow')
      .execute();
    expect(reads).toEqual([{ actor_id: 'agt_01J0000000000000000000OWNR', fields_read: ['id'] }]);
  });

  it('is read by an operator who lists the agents of one owner, into that owner’s trail', async () => {
    // The filter tells whose agents these are as surely as `owner` would show it.
    const operator = await clientToken(hub, ['agents:admin'], 'agt_01J0000000000000000000OWNF');
    const byOwner = (first: number) =>
      graphql<any>(hub, 'query($owner: ID!, $first: Int) { agents(first: $first, filter: { ownerUserId: $owner }) { edges { node { id name } } pageInfo { hasNextPage } } }', {
        token: operator,
        variables: { owner: alice.id, first },
      });
    const listed = await byOwner(10);
    expect(listed.errors).toBeUndefined();
    expect(listed.data.agents.edges.map((e: any) => e.node)).toEqual([{ id: alicesAgent.id, name: 'Alice’s assistant' }]);
    // With `first: 0`, `hasNextPage` tells whether she owns any.
    expect((await byOwner(0)).data.agents.pageInfo.hasNextPage).toBe(true);
    await hub.services.audit.flush();
    const reads = await hub.services.db
      .selectFrom('audit_events')
      .select(['subject_user_id', 'fields_read', 'decision'])
      .where('action', '=', 'profile.read')
      .where('actor_id', '=', 'agt_01J0000000000000000000OWNF')
      .execute();
    expect(reads).toEqual([1, 2].map(() => ({ subject_user_id: alice.id, fields_read: ['id'], decision: 'allow' })));
  });
});
