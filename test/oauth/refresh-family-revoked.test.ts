import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { hashRefreshToken } from '../../src/oauth/refresh-tokens.js';
import { testServerUrl } from '../helpers/database.js';
import { graphql, postForm, signUpUser, startTestHub, TEST_PASSWORD } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { basic, operatorCredentials } from '../helpers/oauth.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const refresh = (token: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: token });
const revoke = (token: string) => postForm(hub, '/oauth/revoke', { client_id: 'hub-frontend', token });
const introspect = (token: string) => postForm(hub, '/oauth/introspect', { token }, basic(operatorCredentials(hub)));
const CHANGE = 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }';

/** A refresh token no use of which succeeds: inactive at introspection, refused at refresh. */
async function expectDead(token: string) {
  expect((await introspect(token)).body).toEqual({ active: false });
  expect(await refresh(token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
}

describe('a refresh token whose family has a revoked token', () => {
  it('is refused at refresh and inactive at introspection, though its own row is not revoked', async () => {
    const user = await signUpUser(hub);
    const next = (await refresh(user.refreshToken)).body.refresh_token as string;
    // What a revocation racing the refresh leaves: the used token revoked, the new one it did not see untouched.
    await hub.services.db.updateTable('refresh_tokens').set({ revoked_at: new Date() }).where('token_hash', '=', hashRefreshToken(user.refreshToken)).execute();
    const row = await hub.services.db.selectFrom('refresh_tokens').select('revoked_at').where('token_hash', '=', hashRefreshToken(next)).executeTakeFirstOrThrow();
    expect(row.revoked_at).toBeNull();
    await expectDead(next);
  });
});

// A second connection must wait on the token the refresh holds: PGlite runs one transaction at a time.
describe.skipIf(testServerUrl() === undefined)('a refresh racing the revocation of its family', () => {
  const { holding, waiters } = lockHolder(() => hub.services.db);

  /**
   * The refresh locks the token it uses and inserts the next one, then waits on the user's audit
   * chain, which the test holds; `revocation` starts then and waits on the used token; released,
   * the refresh commits first and the revocation goes on without having seen the new token.
   */
  async function raced(user: { id: string; refreshToken: string }, revocation: () => Promise<unknown>) {
    const held = await holding((tx) => tx.selectFrom('audit_chain_heads').select('chain_key').where('chain_key', '=', user.id).forUpdate().execute());
    const refreshing = refresh(user.refreshToken);
    await waiters(1);
    const revoking = revocation();
    await waiters(2);
    await held.release();
    const refreshed = await refreshing;
    expect(refreshed.status).toBe(200);
    return { refreshed: refreshed.body as { refresh_token: string; access_token: string }, revoked: await revoking };
  }

  it('sign-out: the refresh token the refresh issued is dead once the revocation commits', async () => {
    const user = await signUpUser(hub);
    const { refreshed, revoked } = await raced(user, () => revoke(user.refreshToken));
    expect(revoked).toMatchObject({ status: 200 });
    await expectDead(refreshed.refresh_token);
    expect((await graphql(hub, '{ me { id } }', { token: refreshed.access_token })).status).toBe(401);
  });

  it('a password change: the refresh token the refresh issued is dead once the change commits', async () => {
    const user = await signUpUser(hub);
    const { refreshed, revoked } = await raced(user, () =>
      graphql<any>(hub, CHANGE, { token: user.accessToken, variables: { input: { currentPassword: TEST_PASSWORD, newPassword: 'a brand new sentence to remember' } } }),
    );
    expect(revoked).toMatchObject({ data: { changePassword: { accessToken: expect.any(String) } } });
    await expectDead(refreshed.refresh_token);
  });
});

// Two uses of one refresh token at once: PGlite runs one transaction at a time.
describe.skipIf(testServerUrl() === undefined)('a refresh token used twice at once', () => {
  const { holding, waiters } = lockHolder(() => hub.services.db);

  it('is rotated once: the second use is a reuse, and revokes the token the first issued', async () => {
    const user = await signUpUser(hub);
    // Holds the token's row: both uses wait on it, one behind the other.
    const held = await holding((tx) => tx.selectFrom('refresh_tokens').select('id').where('token_hash', '=', hashRefreshToken(user.refreshToken)).forUpdate().execute());
    const first = refresh(user.refreshToken);
    await waiters(1);
    const second = refresh(user.refreshToken);
    await waiters(2);
    await held.release();

    const answers = await Promise.all([first, second]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400]);
    const issued = answers.find((answer) => answer.status === 200)!.body.refresh_token as string;
    expect(answers.find((answer) => answer.status === 400)!.body).toMatchObject({ error: 'invalid_grant' });
    await expectDead(issued);
  });
});
