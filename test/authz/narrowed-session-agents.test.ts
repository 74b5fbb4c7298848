import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, postForm, signUpUser, startTestHub } from '../helpers/hub.js';
import { giveConsent, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// A session narrowed at refresh (`scope=contact.email:read`, a token handed to a widget) is held
// to less than the user's own everywhere the hub lets a token hand out or end access: it cannot
// delegate beyond itself (giveConsent), export, erase or answer an approval. Taking over or ending
// the user's agents is more than any of those: the new secret is the agent's whole identity, and
// decommissioning withdraws every consent naming it, other people's included.
let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
let assistant: RegisteredAgent;
let widget: string;
beforeAll(async () => {
  hub = await startTestHub();
  alice = await signUpUser(hub);
  bob = await signUpUser(hub);
  assistant = await registerAgent(hub, alice.accessToken, { name: 'Alice’s assistant', allowedScopes: ['orders:read', 'payment:write'] });
  await giveConsent(hub, bob.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
  const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: alice.refreshToken, scope: 'contact.email:read' });
  expect(refreshed.status).toBe(200);
  expect(refreshed.body.scope).toBe('contact.email:read');
  widget = refreshed.body.access_token;
});
afterAll(() => hub.close());

describe('a user session narrowed to one field', () => {
  it('is refused the secret of the user’s agent', async () => {
    const response = await graphql<any>(hub, 'mutation($id: ID!) { rotateAgentSecret(id: $id) { clientSecret } }', { token: widget, variables: { id: assistant.id } });
    expect(response.data?.rotateAgentSecret?.clientSecret).toBeUndefined();
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('is refused decommissioning the user’s agent, which withdraws other people’s consents', async () => {
    const response = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: widget, variables: { id: assistant.id } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const bobs = await graphql<any>(hub, '{ me { connectedAgents { agent { id } } } }', { token: bob.accessToken });
    expect(bobs.data.me.connectedAgents.map((c: any) => c.agent.id)).toEqual([assistant.id]);
  });

  it('is refused suspending the user’s agent and registering another', async () => {
    const suspended = await graphql<any>(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: widget, variables: { id: assistant.id } });
    expect(suspended.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const registered = await graphql<any>(hub, 'mutation($i: RegisterAgentInput!) { registerAgent(input: $i) { clientSecret } }', {
      token: widget,
      variables: { i: { name: 'Widget’s own', kind: 'AI_AGENT', allowedScopes: ['contact.email:read'] } },
    });
    expect(registered.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('is refused alike for another user’s agent, so the refusal tells nothing of whose it is', async () => {
    const bobsAgent = await registerAgent(hub, bob.accessToken, { name: 'Bob’s assistant', allowedScopes: ['orders:read'] });
    const response = await graphql<any>(hub, 'mutation($id: ID!) { rotateAgentSecret(id: $id) { clientSecret } }', { token: widget, variables: { id: bobsAgent.id } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });
});

describe('the user’s full session', () => {
  it('still rotates the secret of the user’s agent', async () => {
    const response = await graphql<any>(hub, 'mutation($id: ID!) { rotateAgentSecret(id: $id, gracePeriodSeconds: 60) { clientSecret } }', { token: alice.accessToken, variables: { id: assistant.id } });
    expect(response.errors).toBeUndefined();
    expect(response.data.rotateAgentSecret.clientSecret).toEqual(expect.any(String));
  });
});
