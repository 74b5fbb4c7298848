import { describe, expect, it } from 'vitest';
import { decideApprovalAnswer, decideApprovalView, decidePaymentAgent } from '../../src/authz/approval-access.js';
import type { GrantState, Principal } from '../../src/authz/principal.js';

const agent: Principal = {
  kind: 'delegated',
  userId: 'usr_alice',
  clientId: 'agt_shopper',
  scopes: new Set(['payment:write']),
  tokenId: 'jti',
  actorChain: ['agt_shopper'],
  consentId: 'cns_checkout',
  purpose: 'checkout',
};
const consent = { userId: 'usr_alice', status: 'active', expired: false, scopes: ['payment:write'], purpose: 'checkout' } as const;
const grant: GrantState = { agentsLive: true, consent, purposeCategories: ['contact', 'address', 'payment'] };
const user: Principal = { kind: 'user', userId: 'usr_alice', clientId: 'hub-frontend', scopes: new Set(['payment:write']), tokenId: 'jti' };
const operator: Principal = { kind: 'client', clientId: 'agt_ops', scopes: new Set(['users:admin']), tokenId: 'jti' };

describe('the decision on an agent acting on payment', () => {
  it.each<[string, Principal, GrantState | null, string]>([
    ['an agent with payment write in its token, consent and purpose', agent, grant, 'ALLOW'],
    ['a single-field payment write scope', { ...agent, scopes: new Set(['payment.paymentMethods:write']) }, grant, 'ALLOW'],
    ['the user themself', user, null, 'MISSING_SCOPE'],
    ['a token with payment read only', { ...agent, scopes: new Set(['payment:read']) }, grant, 'MISSING_SCOPE'],
    ['no consent', agent, { ...grant, consent: null }, 'NO_CONSENT'],
    ['another user’s consent', agent, { ...grant, consent: { ...consent, userId: 'usr_bob' } }, 'NO_CONSENT'],
    ['a withdrawn consent', agent, { ...grant, consent: { ...consent, status: 'withdrawn' } }, 'CONSENT_WITHDRAWN'],
    ['an expired consent', agent, { ...grant, consent: { ...consent, expired: true } }, 'CONSENT_EXPIRED'],
    ['a suspended agent in the chain', agent, { ...grant, agentsLive: false }, 'AGENT_INACTIVE'],
    ['a consent with payment read only', agent, { ...grant, consent: { ...consent, scopes: ['payment:read'] } }, 'NO_CONSENT'],
    ['a purpose that no longer covers payment', agent, { ...grant, purposeCategories: ['contact'] }, 'PURPOSE_NOT_COVERED'],
  ])('%s: %s', (_what, principal, state, expected) => {
    const decision = decidePaymentAgent(principal, state);
    expect(decision.allowed ? 'ALLOW' : decision.reason).toBe(expected);
  });
});

describe('the decisions on answering and seeing an approval', () => {
  const approval = { userId: 'usr_alice', agentId: 'agt_shopper' };
  const outcome = (decision: ReturnType<typeof decideApprovalView>) => (decision.allowed ? 'ALLOW' : decision.reason);

  it('lets only the user themself answer', () => {
    expect(outcome(decideApprovalAnswer(user, approval))).toBe('ALLOW');
    expect(outcome(decideApprovalAnswer({ ...user, userId: 'usr_bob' }, approval))).toBe('NOT_SUBJECT');
    expect(outcome(decideApprovalAnswer(user, null))).toBe('NOT_SUBJECT');
    expect(outcome(decideApprovalAnswer(agent, approval))).toBe('MISSING_SCOPE');
    expect(outcome(decideApprovalAnswer(operator, approval))).toBe('MISSING_SCOPE');
  });

  it('shows an approval to the user, the agent that asked, and users:admin', () => {
    expect(outcome(decideApprovalView(user, approval))).toBe('ALLOW');
    expect(outcome(decideApprovalView(agent, approval))).toBe('ALLOW');
    expect(outcome(decideApprovalView(operator, approval))).toBe('ALLOW');
    expect(outcome(decideApprovalView({ ...agent, actorChain: ['agt_rival'] }, approval))).toBe('NOT_SUBJECT');
    expect(outcome(decideApprovalView({ ...operator, scopes: new Set(['audit:read']) }, approval))).toBe('MISSING_SCOPE');
    expect(outcome(decideApprovalView({ kind: 'anonymous' }, approval))).toBe('MISSING_SCOPE');
  });
});
