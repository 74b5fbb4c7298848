import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { THROTTLE } from '../../src/identity/throttle.js';
import { clientToken, graphql, postForm, signIn, signUpUser, startTestHub, TEST_PASSWORD } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

// A hub of its own: a password change counts against the address as a sign-in does.
let hub: Hub;
let operator: string;
beforeAll(async () => {
  hub = await startTestHub();
  operator = await operatorToken(hub);
});
afterAll(() => hub.close());

const NEW_PASSWORD = 'a brand new sentence to remember';
const CHANGE = 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken refreshToken user { id } } }';

const change = (token: string, currentPassword: string, newPassword = NEW_PASSWORD) => graphql<any>(hub, CHANGE, { token, variables: { input: { currentPassword, newPassword } } });
const signInWith = (email: string, password: string) => graphql<any>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }', { variables: { input: { email, password } } });
const me = async (token: string) => (await hub.http.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: { query: '{ me { id } }' } })).statusCode;
const refresh = (refreshToken: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: refreshToken });
const errorOf = (response: { errors?: readonly any[] }) => response.errors?.[0]?.extensions;

async function trailOf(userId: string) {
  await hub.services.audit.flush();
  return (await findAuditEvents(hub.services.db, { filter: { userId }, first: 100 })).edges.map((e) => e.node).filter((e) => e.action.startsWith('user.password'));
}

describe('changePassword', () => {
  it('replaces the password, ends every session and every token an agent obtained from one, and returns a new session', async () => {
    const user = await signUpUser(hub);
    const otherDevice = await signIn(hub, user);
    const handed = await signIn(hub, user);
    const agent = await registerAgent(hub, operator, { allowedScopes: ['orders:read', 'offline_access'] });
    await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const delegated = (await exchange(hub, agent, handed.accessToken, { scope: 'orders:read offline_access' })).body;
    // Without a refresh token of its own, the agent's token has only the session it came from.
    const shortLived = (await exchange(hub, agent, handed.accessToken, { scope: 'orders:read' })).body;
    expect(await me(delegated.access_token)).toBe(200);
    expect(await me(shortLived.access_token)).toBe(200);

    const changed = await change(user.accessToken, TEST_PASSWORD);
    expect(changed.errors).toBeUndefined();
    const session = changed.data.changePassword;
    expect(session.user).toEqual({ id: user.id });

    for (const token of [user.accessToken, otherDevice.accessToken, delegated.access_token, shortLived.access_token]) expect(await me(token)).toBe(401);
    for (const token of [user.refreshToken, otherDevice.refreshToken]) expect((await refresh(token)).body.error).toBe('invalid_grant');
    expect((await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: delegated.refresh_token }, { authorization: `Basic ${Buffer.from(`${agent.clientId}:${agent.clientSecret}`).toString('base64')}` })).body.error).toBe('invalid_grant');
    expect(await me(session.accessToken)).toBe(200);
    expect((await refresh(session.refreshToken)).status).toBe(200);

    expect(errorOf(await signInWith(user.email, TEST_PASSWORD))).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await signInWith(user.email, NEW_PASSWORD)).data.signIn.accessToken).toEqual(expect.any(String));
    // Sign-up, the two sign-ins and the agent's delegated family: four.
    expect(await trailOf(user.id)).toEqual([expect.objectContaining({ action: 'user.password_changed', decision: 'ALLOW', actor: { kind: 'user', id: user.id }, detail: { sessionsEnded: 4, approvalsEnded: 0 } })]);
  });

  it('refuses a wrong current password as BAD_USER_INPUT, changes nothing, audits it, and throttles it as sign-ins are', async () => {
    const user = await signUpUser(hub);
    for (let i = 0; i < THROTTLE.perAccountAddress; i++) {
      expect(errorOf(await change(user.accessToken, `wrong guess number ${i}`))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.currentPassword' });
    }
    expect(errorOf(await change(user.accessToken, TEST_PASSWORD))).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await me(user.accessToken)).toBe(200);
    expect(errorOf(await signInWith(user.email, TEST_PASSWORD))).toMatchObject({ code: 'RATE_LIMITED' });

    const trail = await trailOf(user.id);
    expect(trail.map((e) => [e.action, e.decision, e.reason])).toEqual([
      ['user.password_change_failed', 'DENY', 'RATE_LIMITED'],
      ...Array.from({ length: THROTTLE.perAccountAddress }, () => ['user.password_change_failed', 'DENY', 'WRONG_PASSWORD']),
    ]);
    await hub.services.identity.forgetSignInCounts(hub.services.db, user.email);
    expect((await signInWith(user.email, TEST_PASSWORD)).data.signIn.accessToken).toEqual(expect.any(String));
  });

  it('clears the account’s failures when it succeeds, as a sign-in does', async () => {
    const user = await signUpUser(hub);
    for (let i = 0; i < THROTTLE.perAccountAddress - 1; i++) await change(user.accessToken, `wrong guess number ${i}`);
    expect(errorOf(await change(user.accessToken, TEST_PASSWORD))).toBeUndefined();
    for (let i = 0; i < THROTTLE.perAccountAddress; i++) {
      expect(errorOf(await signInWith(user.email, `wrong guess number ${i}`))).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('refuses an unacceptable new password before checking the current one, counting nothing', async () => {
    const user = await signUpUser(hub);
    for (const [password, message] of [
      ['too short', /at least 15/],
      ['passwordpassword', /too common/],
      [`${user.email.split('@')[0]} and more words`, /email/],
    ] as const) {
      const refused = await change(user.accessToken, 'not even the right one', password);
      expect(errorOf(refused)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.newPassword' });
      expect(refused.errors?.[0]?.message).toMatch(message);
    }
    expect(await trailOf(user.id)).toEqual([]);
    expect(await me(user.accessToken)).toBe(200);
  });

  it('is for the user signed in themself: not an agent acting for them, not an operator, not anonymous', async () => {
    const user = await signUpUser(hub);
    const agent = await registerAgent(hub, operator, { allowedScopes: ['orders:read', 'contact:read'] });
    await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read', 'contact:read'] });
    const delegated = (await exchange(hub, agent, (await signIn(hub, user)).accessToken, { scope: 'orders:read contact:read' })).body.access_token;
    expect(errorOf(await change(delegated, TEST_PASSWORD))).toMatchObject({ code: 'FORBIDDEN' });
    expect(errorOf(await change(await clientToken(hub, ['users:admin']), TEST_PASSWORD))).toMatchObject({ code: 'FORBIDDEN' });
    expect(errorOf(await graphql(hub, CHANGE, { variables: { input: { currentPassword: TEST_PASSWORD, newPassword: NEW_PASSWORD } } }))).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await signInWith(user.email, TEST_PASSWORD)).data.signIn.accessToken).toEqual(expect.any(String));
  });

  it('lets one of two concurrent changes from the same password win, and the other fail', async () => {
    const user = await signUpUser(hub);
    const second = await signIn(hub, user);
    const results = await Promise.all([change(user.accessToken, TEST_PASSWORD, NEW_PASSWORD), change(second.accessToken, TEST_PASSWORD, 'another new sentence entirely')]);
    const won = results.filter((r) => r.errors === undefined);
    expect(won).toHaveLength(1);
    const lost = results.find((r) => r.errors !== undefined)!;
    // The loser either saw the winner's hash already, or found it replaced when it came to write.
    expect(errorOf(lost)?.code).toMatch(/^(BAD_USER_INPUT|UNAUTHENTICATED)$/);
    const winner = results.indexOf(won[0]!) === 0 ? NEW_PASSWORD : 'another new sentence entirely';
    expect((await signInWith(user.email, winner)).data.signIn.accessToken).toEqual(expect.any(String));
  });
});
