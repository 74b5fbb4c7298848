import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { testServerUrl } from '../helpers/database.js';
import { graphql, signUpUser, startTestHub, TEST_PASSWORD } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken } }';
const CHANGE = 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }';
const NEW_PASSWORD = 'a brand new sentence to remember';

const liveFamilies = async (userId: string) =>
  (await hub.services.db.selectFrom('refresh_tokens').select('family_id').distinct().where('user_id', '=', userId).where('revoked_at', 'is', null).execute()).length;
const countOf = async (key: string) => (await hub.services.db.selectFrom('sign_in_throttle').select('failures').where('key', '=', key).executeTakeFirst())?.failures;
const addressFailures = async () =>
  (await hub.services.db.selectFrom('sign_in_throttle').select('failures').where('key', 'like', 'address:%').execute()).reduce((sum, row) => sum + row.failures, 0);
const lastSignInEvent = async (userId: string) => {
  await hub.services.audit.flush();
  const events = (await findAuditEvents(hub.services.db, { filter: { userId }, first: 100 })).edges.map((edge) => edge.node);
  return events.find((event) => event.action.startsWith('user.sign'));
};

// The sign-in must read the old hash while the change is uncommitted, and finish after it: that
// takes a second connection.
describe.skipIf(testServerUrl() === undefined)('a sign-in with the old password that reads it before changePassword commits and finishes after', () => {
  const { holding, waiters } = lockHolder(() => hub.services.db);

  it('is refused as a wrong password is, audited and left counted, and opens no session', async () => {
    const user = await signUpUser(hub);
    const failuresBefore = await addressFailures();
    // Holds the user's audit chain: the change waits there, its new hash and its revocation of
    // every session written and uncommitted, the account's count taken back (its row deleted).
    const held = await holding((tx) => tx.selectFrom('audit_chain_heads').select('chain_key').where('chain_key', '=', user.id).forUpdate().execute());
    const changing = graphql<any>(hub, CHANGE, { token: user.accessToken, variables: { input: { currentPassword: TEST_PASSWORD, newPassword: NEW_PASSWORD } } });
    await waiters(1);
    // The sign-in reads the old hash, then counts its attempt against the account: it waits on
    // the row the change deleted, and checks its password once the change has committed.
    const signingIn = graphql<any>(hub, SIGN_IN, { variables: { input: { email: user.email, password: TEST_PASSWORD } } });
    await waiters(2);
    await held.release();
    expect((await changing).errors).toBeUndefined();

    const answer = await signingIn;
    expect(answer.errors?.[0]).toMatchObject({ message: 'Invalid email or password', extensions: { code: 'UNAUTHENTICATED' } });
    expect(answer.data).toBeNull();
    // Only the session the change returned.
    expect(await liveFamilies(user.id)).toBe(1);
    expect(await lastSignInEvent(user.id)).toMatchObject({ action: 'user.sign_in_failed', decision: 'DENY', reason: 'WRONG_PASSWORD' });
    // Counted as a failure against the account and the address, as a wrong password is.
    expect(await countOf(`account:${user.email}`)).toBe(1);
    expect(await addressFailures()).toBe(failuresBefore + 1);
  });
});
