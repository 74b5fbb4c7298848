import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { testServerUrl } from '../helpers/database.js';
import { graphql, postForm, signIn, signUpUser, startTestHub, TEST_PASSWORD } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { basic, exchange, giveConsent, operatorCredentials, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

let hub: Hub;
let assistant: RegisteredAgent;
beforeAll(async () => {
  hub = await startTestHub();
  assistant = await registerAgent(hub, await operatorToken(hub), { name: 'Assistant', allowedScopes: ['orders:read', 'offline_access'] });
});
afterAll(() => hub.close());

const CHANGE = 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }';
const refresh = (token: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: token }, basic(assistant));
const introspect = (token: string) => postForm(hub, '/oauth/introspect', { token }, basic(operatorCredentials(hub)));
const liveAgentFamilies = async (userId: string) =>
  (await hub.services.db.selectFrom('refresh_tokens').select('family_id').where('user_id', '=', userId).where('client_id', '=', assistant.id).where('revoked_at', 'is', null).execute()).length;

// The exchange must read its subject's session as live while the change is uncommitted, and
// finish after it: that takes a second connection, which PGlite does not have.
describe.skipIf(testServerUrl() === undefined)('a first-hop token exchange with offline_access racing changePassword', () => {
  const { holding, waiters } = lockHolder(() => hub.services.db);

  it('is refused once the change has committed, leaving the agent no refresh token that outlives it', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    // A second session to hand to the agent: a handed token no longer passes as the user's bearer token.
    const subject = (await signIn(hub, user)).accessToken;
    // Holds the user's audit chain: the change waits there, its new hash and its revocation of
    // every refresh token of the user written and uncommitted.
    const held = await holding((tx) => tx.selectFrom('audit_chain_heads').select('chain_key').where('chain_key', '=', user.id).forUpdate().execute());
    const changing = graphql<any>(hub, CHANGE, { token: user.accessToken, variables: { input: { currentPassword: TEST_PASSWORD, newPassword: 'a brand new sentence to remember' } } });
    await waiters(1);
    // The exchange reads the subject's session as not revoked (the revocation is uncommitted),
    // then waits in the transaction that would store its refresh token.
    const exchanging = exchange(hub, assistant, subject, { scope: 'orders:read offline_access' });
    await waiters(2);
    await held.release();
    expect((await changing).errors).toBeUndefined();

    const answer = await exchanging;
    const refreshToken = answer.body.refresh_token as string | undefined;
    // Had it been issued, a refresh token of a first-hop family would stand on the consent alone.
    if (refreshToken) {
      expect((await introspect(refreshToken)).body).toEqual({ active: false });
      expect(await refresh(refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    }
    expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await liveAgentFamilies(user.id)).toBe(0);
  });
});
