import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, postForm, signUpUser, startTestHub } from '../helpers/hub.js';
import { basic, clientCredentialsToken, operatorCredentials, operatorToken, registerAgent } from '../helpers/oauth.js';

// An operator client with agents:admin and no other operator scope, as a team that only manages
// agents would hold: it must not reach, through the agents it manages, what it does not hold.

let hub: Hub;
let admin: string;
let agentsAdmin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  agentsAdmin = await clientToken(hub, ['agents:admin']);
  alice = await signUpUser(hub);
});
afterAll(() => hub.close());

const errorOf = (response: { errors?: { extensions?: Record<string, unknown> }[] }) => response.errors?.[0]?.extensions;
const register = (token: string, allowedScopes: string[]) =>
  graphql<any>(hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId clientSecret } }', {
    token,
    variables: { input: { name: 'Console', kind: 'SERVICE', allowedScopes } },
  });
const manage = (token: string, name: string, id: string) =>
  graphql<any>(hub, `mutation($id: ID!) { ${name}(id: $id) { ${name === 'rotateAgentSecret' ? 'clientSecret' : 'status'} } }`, { token, variables: { id } });

describe('an operator client holding agents:admin alone', () => {
  it('cannot register an agent with an operator scope it does not hold, and registers nothing', async () => {
    const before = await hub.database.db.selectFrom('agents').select('id').execute();
    const minted = await register(agentsAdmin, ['users:admin', 'contact:read']);
    expect(errorOf(minted)).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(minted.errors?.[0]?.message).toMatch(/users:admin/);
    expect(await hub.database.db.selectFrom('agents').select('id').execute()).toHaveLength(before.length);
  });

  it('registers agents with data scopes and the operator scopes it holds', async () => {
    expect((await register(agentsAdmin, ['contact:read', 'agents:admin', 'offline_access'])).errors).toBeUndefined();
    const full = await register(admin, ['users:admin', 'contact:read']);
    expect(full.errors).toBeUndefined();
    const token = await clientCredentialsToken(hub, { clientId: full.data.registerAgent.clientId, clientSecret: full.data.registerAgent.clientSecret });
    expect((await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { id } }', { token, variables: { id: alice.id } })).data).toEqual({ user: { id: alice.id } });
  });

  it('cannot rotate the secret of, suspend, reactivate or decommission an agent holding an operator scope it does not hold', async () => {
    const console_ = operatorCredentials(hub);
    for (const name of ['rotateAgentSecret', 'suspendAgent', 'reactivateAgent', 'decommissionAgent']) {
      expect(errorOf(await manage(agentsAdmin, name, console_.clientId)), name).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    }
    const row = await hub.database.db.selectFrom('agents').select('status').where('id', '=', console_.clientId).executeTakeFirstOrThrow();
    expect(row.status).toBe('active');
    expect((await postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(console_))).status).toBe(200);
  });

  it('still manages agents whose operator scopes it holds, and an operator holding them all manages any', async () => {
    const data = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const peer = await registerAgent(hub, admin, { allowedScopes: ['agents:admin'] });
    for (const id of [data.id, peer.id]) {
      expect((await manage(agentsAdmin, 'rotateAgentSecret', id)).errors).toBeUndefined();
      expect((await manage(agentsAdmin, 'suspendAgent', id)).data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
      expect((await manage(agentsAdmin, 'reactivateAgent', id)).data).toEqual({ reactivateAgent: { status: 'ACTIVE' } });
    }
    const powerful = await registerAgent(hub, admin, { allowedScopes: ['users:admin'] });
    expect((await manage(admin, 'rotateAgentSecret', powerful.id)).errors).toBeUndefined();
    expect((await manage(admin, 'decommissionAgent', powerful.id)).data).toEqual({ decommissionAgent: { status: 'DECOMMISSIONED' } });
  });
});
