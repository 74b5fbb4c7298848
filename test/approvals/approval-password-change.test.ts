import { describe, expect, it } from 'vitest';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { graphql, TEST_PASSWORD } from '../helpers/hub.js';
import { exchange } from '../helpers/oauth.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

// A password change ends every session and every token an agent obtained from one (OWASP: sessions
// end when the password changes), since one of them may be a thief's. An approval a session gave
// and the agent has not used yet stands on that session as much as a token does: it ends too, and
// the agent asks again, to be answered with the new password.

const world = await approvalWorld();
const { hub, alice, shopper, agentToken, request, approval, approvedPayment, pay } = world;

const PAYMENT = { amount: '99.00', currency: 'EUR', creditorName: 'After Change Ltd' };
const NEW_PASSWORD = 'a brand new sentence to remember';

const changePassword = (token: string) =>
  graphql<any>(hub, 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }', {
    token,
    variables: { input: { currentPassword: TEST_PASSWORD, newPassword: NEW_PASSWORD } },
  });
const signInWithNewPassword = async (email: string) =>
  (await graphql<any>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }', { variables: { input: { email, password: NEW_PASSWORD } } })).data.signIn.accessToken as string;

describe('an approval after the user changed their password', () => {
  it('can no longer be used once approved before the change, even with a token the agent got after it', async () => {
    const before = await agentToken(shopper, alice);
    const approved = await approvedPayment(before, alice, PAYMENT);
    const waiting = (await request(before, { action: 'PAY', payment: { ...PAYMENT, amount: '1.00' } })).data.requestApproval.id as string;

    const changed = await changePassword(alice.accessToken);
    expect(changed.errors).toBeUndefined();
    const session = changed.data.changePassword.accessToken as string;

    const after = await exchange(hub, shopper, await signInWithNewPassword(alice.email));
    expect(after.status).toBe(200);
    const token = after.body.access_token as string;
    expect(refusal(await pay(token, PAYMENT))).toBe('FORBIDDEN/APPROVAL_REQUIRED');
    expect((await approval(session, approved)).data.approval).toMatchObject({ status: 'EXPIRED', usedAt: null });
    const [changedEvent] = (await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'user.password_changed' }, first: 1 })).edges;
    expect(changedEvent!.node.detail).toMatchObject({ approvalsEnded: 1 });
    // What still waits for an answer is answered with the new password, and then used.
    expect((await approval(session, waiting)).data.approval.status).toBe('PENDING');
    const approve = await graphql<any>(hub, 'mutation($id: ID!) { approve(id: $id) { status } }', { token: await signInWithNewPassword(alice.email), variables: { id: waiting } });
    expect(approve.data.approve.status).toBe('APPROVED');
    expect(refusal(await pay(token, { ...PAYMENT, amount: '1.00' }))).toBe('none');
  });
});
