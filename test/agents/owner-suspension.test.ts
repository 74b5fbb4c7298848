import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorCredentials, operatorToken, registerAgent } from '../helpers/oauth.js';

// An agent acts only while the person who owns it may act: a suspended user's agents act for no
// one, the owner's other customers included, until the user is reactivated. Nothing is revoked.

let hub: Hub;
let admin: string;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
});
afterAll(() => hub.close());

const setStatus = async (mutation: 'suspendUser' | 'reactivateUser', id: string) => {
  const response = await graphql<any>(hub, `mutation($id: ID!) { ${mutation}(id: $id) { status } }`, { token: admin, variables: { id } });
  expect(response.errors).toBeUndefined();
};

describe('a suspended owner’s agents', () => {
  it('cannot authenticate, act on tokens they hold, take consents or have sub-agents registered; all of it works again once the owner is reactivated', async () => {
    const owner = await signUpUser(hub);
    const agent = await registerAgent(hub, owner.accessToken, { name: 'Owned assistant', allowedScopes: ['orders:read'] });
    const customer = await signUpUser(hub);
    await giveConsent(hub, customer.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const delegated = (await exchange(hub, agent, (await signIn(hub, customer)).accessToken, { scope: 'orders:read' })).body.access_token as string;
    const clientCredentials = () => postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(agent));
    const actsFor = async () => (await graphql<any>(hub, '{ me { id } }', { token: delegated })).status;
    const introspected = async () => (await postForm(hub, '/oauth/introspect', { token: delegated }, basic(operatorCredentials(hub)))).body.active;
    const consentOf = async (user: { accessToken: string }) =>
      graphql<any>(hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', {
        token: user.accessToken,
        variables: { input: { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] } },
      });
    const subAgent = () =>
      graphql<any>(hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId } }', {
        token: admin,
        variables: { input: { name: 'Sub', kind: 'AI_AGENT', allowedScopes: ['orders:read'], parentAgentId: agent.id } },
      });
    expect((await clientCredentials()).status).toBe(200);
    expect(await actsFor()).toBe(200);

    await setStatus('suspendUser', owner.id);
    expect(await clientCredentials()).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await actsFor()).toBe(401);
    expect(await introspected()).toBe(false);
    const refusedConsent = await consentOf(await signUpUser(hub));
    expect(refusedConsent.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.agentId' } });
    expect((await subAgent()).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.parentAgentId' } });
    // A refused client authentication is recorded through the buffered writer.
    await hub.services.audit.flush();
    const audited = await hub.database.db.selectFrom('audit_events').select('reason').where('client_id', '=', agent.id).where('decision', '=', 'deny').execute();
    expect(audited.map((e) => e.reason)).toContain('invalid_client: agent owner not active');

    await setStatus('reactivateUser', owner.id);
    expect((await clientCredentials()).status).toBe(200);
    expect(await actsFor()).toBe(200);
    expect(await introspected()).toBe(true);
    expect((await consentOf(await signUpUser(hub))).errors).toBeUndefined();
    expect((await subAgent()).errors).toBeUndefined();
  });
});
