import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { decideConsentGiving } from '../../src/authz/agent-access.js';
import type { Principal } from '../../src/authz/principal.js';
import { ALL_DATA_SCOPES, isDataScope, scopeWithin } from '../../src/authz/scopes.js';
import { graphql, postForm, signUpUser, startTestHub } from '../helpers/hub.js';
import { basic, operatorToken, registerAgent } from '../helpers/oauth.js';

/** Names every object inherits (`constructor`), spelt as a category of the grammar would be. */
const INHERITED = ['constructor:read', 'constructor:write', 'constructor.name:read', 'constructor.length:write'];

describe('the scope grammar', () => {
  it.each(INHERITED)('is not fooled by a name every object inherits: %s is no data scope', (scope) => {
    expect(isDataScope(scope)).toBe(false);
  });

  it.each(INHERITED)('never throws deciding whether %s lies within granted scopes', (scope) => {
    expect(scopeWithin(scope, new Set(ALL_DATA_SCOPES))).toBe(false);
  });

  it('leaves such a scope in a consent to the input’s validation', () => {
    const user: Principal = { kind: 'user', userId: 'usr_alice', clientId: 'hub-frontend', scopes: new Set(ALL_DATA_SCOPES), tokenId: 'jti' };
    expect(decideConsentGiving(user, ['constructor.name:read'])).toEqual({ allowed: true });
  });
});

describe('a scope named after an inherited property, at the API', () => {
  let hub: Hub;
  let admin: string;
  beforeAll(async () => {
    hub = await startTestHub();
    admin = await operatorToken(hub);
  });
  afterAll(() => hub.close());

  it.each(['constructor:read', 'constructor.name:read'])('is refused in an agent’s ceiling as BAD_USER_INPUT: %s', async (scope) => {
    const response = await graphql<any>(hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId } }', {
      token: admin,
      variables: { input: { name: 'Probe', kind: 'SERVICE', allowedScopes: ['orders:read', scope] } },
    });
    expect(response.data).toBeNull();
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('is refused in a consent as BAD_USER_INPUT, not as an internal error', async () => {
    const alice = await signUpUser(hub);
    const agent = await registerAgent(hub, admin, { name: 'Helpdesk', allowedScopes: ['orders:read'] });
    const response = await graphql<any>(hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', {
      token: alice.accessToken,
      variables: { input: { purpose: 'support', agentId: agent.id, scopes: ['constructor.name:read'] } },
    });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('is invalid_scope at the token endpoint, not a server error', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Service', allowedScopes: ['orders:read'] });
    const response = await postForm(hub, '/oauth/token', { grant_type: 'client_credentials', scope: 'constructor.name:read' }, basic(agent));
    expect(response).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });
});
