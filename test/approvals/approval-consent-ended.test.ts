import { describe, expect, it } from 'vitest';
import { graphql } from '../helpers/hub.js';
import { exchange, registerAgent } from '../helpers/oauth.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

// An approval can only ever be used under the consent it was asked under: once that consent is no
// longer in force, the approval cannot be answered either.

const { hub, clock, admin, alice, bob, shopper, rival, agentToken, request, answerAfresh, approval } = await approvalWorld();
const PAYMENT = { amount: '250.00', currency: 'EUR', creditorName: 'Example Shop GmbH', description: 'Order 9001' };

/** Asks `user` for a payment through `agent`'s new delegated token; resolves to the approval id. */
async function asked(agent: typeof shopper, user: typeof alice) {
  const token = await agentToken(agent, user);
  clock.advance(1);
  const response = await request(token, { action: 'PAY', payment: PAYMENT });
  return response.data.requestApproval.id as string;
}

const statusInDatabase = async (id: string) => (await hub.services.db.selectFrom('approvals').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

describe('answering an approval whose consent is no longer in force', () => {
  it('is refused once its agent was decommissioned, and the approval stays unanswered', async () => {
    const id = await asked(shopper, alice);
    await graphql(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id: shopper.id } });
    clock.advance(1);
    for (const verb of ['approve', 'deny'] as const) {
      const answered = await answerAfresh(alice, verb, id);
      expect(refusal(answered)).toBe('BAD_USER_INPUT/');
      expect(answered.errors![0]!.extensions).toMatchObject({ field: 'id' });
      expect(answered.errors![0]!.message).toMatch(/agent that is no longer active/);
    }
    expect(await statusInDatabase(id)).toBe('pending');
    expect((await approval(alice.accessToken, id)).data.approval.status).toBe('PENDING');
  });

  it('is refused once the user withdrew the consent', async () => {
    const id = await asked(rival, bob);
    const consentId = (await hub.services.db.selectFrom('approvals').select('consent_id').where('id', '=', id).executeTakeFirstOrThrow()).consent_id!;
    await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: bob.accessToken, variables: { id: consentId } });
    clock.advance(1);
    const answered = await answerAfresh(bob, 'approve', id);
    expect(refusal(answered)).toBe('BAD_USER_INPUT/');
    expect(answered.errors![0]!.message).toMatch(/consent that is WITHDRAWN/);
    expect(await statusInDatabase(id)).toBe('pending');
  });

  it('is refused once the consent expired, and answered while it is in force', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Short-lived consent', allowedScopes: ['payment:read', 'payment:write'] });
    const expiresAt = new Date(clock.now().getTime() + 120_000).toISOString();
    const token = await agentToken(agent, alice, { purpose: 'checkout', scopes: ['payment:read', 'payment:write'], expiresAt });
    clock.advance(1);
    const first = (await request(token, { action: 'PAY', payment: PAYMENT })).data.requestApproval.id as string;
    const second = (await request(token, { action: 'PAY', payment: PAYMENT })).data.requestApproval.id as string;
    clock.advance(1);
    expect((await answerAfresh(alice, 'approve', first)).data.approve.status).toBe('APPROVED');
    clock.advance(120);
    const late = await answerAfresh(alice, 'approve', second);
    expect(refusal(late)).toBe('BAD_USER_INPUT/');
    expect(late.errors![0]!.message).toMatch(/consent that is EXPIRED/);
  });
});

describe('answering an approval whose agent is no longer active', () => {
  it('is refused once the sub-agent that asked under its parent’s consent was decommissioned', async () => {
    const parent = await registerAgent(hub, admin, { name: 'Orchestrator', allowedScopes: ['payment:read', 'payment:write'] });
    const child = await registerAgent(hub, admin, { name: 'Checkout worker', allowedScopes: ['payment:read', 'payment:write'], parentAgentId: parent.id });
    const parentToken = await agentToken(parent, alice);
    const childToken = (await exchange(hub, child, parentToken)).body.access_token as string;
    clock.advance(1);
    const id = (await request(childToken, { action: 'PAY', payment: PAYMENT })).data.requestApproval.id as string;
    await graphql(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id: child.id } });
    clock.advance(1);

    const answered = await answerAfresh(alice, 'approve', id);
    expect(refusal(answered)).toBe('BAD_USER_INPUT/');
    expect(answered.errors![0]!).toMatchObject({ message: 'id: was asked by an agent that is no longer active; only an approval of an active agent can be answered', extensions: { field: 'id' } });
    expect(await statusInDatabase(id)).toBe('pending');
  });
});
