import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';
import { operatorToken } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
});
afterAll(() => hub.close());

const register = (token: string, input: Record<string, unknown>) =>
  graphql<any>(hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId } }', {
    token,
    variables: { input: { name: 'Helper', kind: 'AI_AGENT', allowedScopes: ['orders:read'], ...input } },
  });
const errorOf = (response: { errors?: { extensions?: Record<string, unknown> }[] }) => response.errors?.[0]?.extensions;

describe('registerAgent with an empty id', () => {
  it('refuses an empty ownerUserId or parentAgentId with BAD_USER_INPUT naming it, for an operator and a user alike', async () => {
    const before = (await hub.database.db.selectFrom('agents').select('id').execute()).length;
    for (const token of [admin, alice.accessToken]) {
      expect(errorOf(await register(token, { ownerUserId: '' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.ownerUserId' });
      expect(errorOf(await register(token, { parentAgentId: '' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.parentAgentId' });
    }
    expect((await hub.database.db.selectFrom('agents').select('id').execute()).length).toBe(before);
  });
});
