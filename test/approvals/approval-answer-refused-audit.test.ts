import { beforeAll, describe, expect, it } from 'vitest';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

// ARCHITECTURE.md: "Every decision, allow or deny, is audited once per request and user"; README:
// "Each request, answer, use and refusal is in the audit trail". An agent trying to approve its
// own payment request, another user or an operator trying to answer the user's approval, or a
// stale session answering, is a refused decision about the user's payment: it must be in their
// trail, as a refused read of the same approval is.

const world = await approvalWorld();
const { hub, admin, alice, bob, shopper, agentToken, request, answer } = world;

let token: string;
let approvalId: string;
beforeAll(async () => {
  token = await agentToken(shopper, alice);
  const asked = await request(token, { action: 'PAY', payment: { amount: '999.99', currency: 'EUR', creditorName: 'Self-approved Ltd' } });
  approvalId = asked.data.requestApproval.id;
});

const trail = async () => {
  await hub.services.audit.flush();
  return (await findAuditEvents(hub.services.db, { filter: { userId: alice.id }, first: 100 })).edges.map((e) => e.node);
};

describe('a refused answer to an approval', () => {
  it('is in the user’s audit trail when the asking agent tries to approve its own request', async () => {
    const before = (await trail()).length;
    expect(refusal(await answer(token, 'approve', approvalId))).toBe('FORBIDDEN/MISSING_SCOPE');
    const added = (await trail()).slice(0, (await trail()).length - before);
    expect(added).toContainEqual(expect.objectContaining({ decision: 'DENY', reason: 'MISSING_SCOPE', actor: { kind: 'delegated', id: shopper.id } }));
  });

  it('is in the user’s audit trail when another user or an operator tries to answer it', async () => {
    const before = (await trail()).length;
    expect(refusal(await answer(bob.accessToken, 'approve', approvalId))).toBe('FORBIDDEN/NOT_SUBJECT');
    expect(refusal(await answer(admin, 'deny', approvalId))).toBe('FORBIDDEN/MISSING_SCOPE');
    const all = await trail();
    const added = all.slice(0, all.length - before);
    expect(added).toContainEqual(expect.objectContaining({ decision: 'DENY', reason: 'NOT_SUBJECT', actor: { kind: 'user', id: bob.id } }));
    expect(added).toContainEqual(expect.objectContaining({ decision: 'DENY', reason: 'MISSING_SCOPE', actor: expect.objectContaining({ kind: 'client' }) }));
  });
});
