import { describe, expect, it } from 'vitest';
import { postForm } from '../helpers/hub.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

const { hub, clock, alice, shopper, agentToken, request, answer, signIn, approval } = await approvalWorld();

const PAYMENT = { amount: '250.00', currency: 'EUR', creditorName: 'Example Shop GmbH', description: 'Order 9001' };

/** A fresh sign-in of the user, refreshed at once into an access token of `scope` only: same `auth_time`, fewer scopes. */
async function narrowedSession(scope: string): Promise<string> {
  const session = await signIn(alice);
  const refreshed = await postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: session.refreshToken, scope });
  if (refreshed.status !== 200) throw new Error(`refresh failed: ${JSON.stringify(refreshed.body)}`);
  expect(refreshed.body.scope).toBe(scope);
  return refreshed.body.access_token as string;
}

describe('answering an approval with the user’s own session narrowed at refresh', () => {
  it('is refused with MISSING_SCOPE without payment write, and the payment stays unapproved', async () => {
    const token = await agentToken(shopper, alice);
    clock.advance(1);
    const asked = await request(token, { action: 'PAY', payment: PAYMENT });
    const id = asked.data.requestApproval.id as string;
    clock.advance(1);
    const narrowed = await narrowedSession('profile:read');

    for (const verb of ['approve', 'deny'] as const) {
      const refused = await answer(narrowed, verb, id);
      expect(refusal(refused)).toBe('FORBIDDEN/MISSING_SCOPE');
      expect(refused.data?.[verb] ?? null).toBeNull();
    }
    expect((await approval(token, id)).data.approval.status).toBe('PENDING');
  });

  it('is allowed with a session that still writes payment data', async () => {
    const token = await agentToken(shopper, alice);
    clock.advance(1);
    const asked = await request(token, { action: 'PAY', payment: { ...PAYMENT, description: 'Order 9002' } });
    clock.advance(1);
    const narrowed = await narrowedSession('payment:read payment:write');
    const approved = await answer(narrowed, 'approve', asked.data.requestApproval.id);
    expect(refusal(approved)).toBe('none');
    expect(approved.data.approve.status).toBe('APPROVED');
  });
});
