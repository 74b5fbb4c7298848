import { describe, expect, it } from 'vitest';
import { APPROVAL_MAX_AUTH_AGE_SECONDS, decideApprovalAnswer, decideApprovalView, decidePaymentAgent } from '../../src/authz/approval-access.js';
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
  const requestedAt = new Date('2031-03-01T09:00:00.000Z');
  const approval = { userId: 'usr_alice', agentId: 'agt_shopper', createdAt: requestedAt };
  const later = (seconds: number) => new Date(requestedAt.getTime() + seconds * 1_000);
  const signedIn = (at: Date, userId = 'usr_alice'): Principal => ({ kind: 'user', userId, clientId: 'hub-frontend', scopes: new Set(['payment:write']), tokenId: 'jti', authTime: at });
  const now = later(60);
  const outcome = (decision: ReturnType<typeof decideApprovalAnswer>) => (decision.allowed ? 'ALLOW' : decision.reason);

  it('lets only the user themself answer', () => {
    expect(outcome(decideApprovalAnswer(signedIn(later(30)), approval, now))).toBe('ALLOW');
    expect(outcome(decideApprovalAnswer(signedIn(later(30), 'usr_bob'), approval, now))).toBe('NOT_SUBJECT');
    expect(outcome(decideApprovalAnswer(signedIn(later(30)), null, now))).toBe('NOT_SUBJECT');
    expect(outcome(decideApprovalAnswer(agent, approval, now))).toBe('MISSING_SCOPE');
    expect(outcome(decideApprovalAnswer(operator, approval, now))).toBe('MISSING_SCOPE');
  });

  it('asks the user’s token to write payment data: a session narrowed at refresh keeps its sign-in time', () => {
    const narrowed = (scopes: string[]): Principal => ({ ...signedIn(later(30)), scopes: new Set(scopes) } as Principal);
    expect(outcome(decideApprovalAnswer(narrowed(['profile:read', 'payment:read']), approval, now))).toBe('MISSING_SCOPE');
    expect(outcome(decideApprovalAnswer(narrowed([]), approval, now))).toBe('MISSING_SCOPE');
    expect(outcome(decideApprovalAnswer(narrowed(['payment.paymentMethods:write']), approval, now))).toBe('ALLOW');
    expect(outcome(decideApprovalAnswer({ ...narrowed(['profile:read']), userId: 'usr_bob' } as Principal, approval, now))).toBe('NOT_SUBJECT');
  });

  it.each<[string, Principal, Date, string]>([
    ['a sign-in after the request', signedIn(later(30)), now, 'ALLOW'],
    ['a sign-in in the very second of the request', signedIn(requestedAt), now, 'ALLOW'],
    ['a sign-in the second before the request', signedIn(later(-1)), now, 'REAUTHENTICATE'],
    ['a token without auth_time', user, now, 'REAUTHENTICATE'],
    ['a sign-in exactly the maximum age ago', signedIn(later(30)), later(30 + APPROVAL_MAX_AUTH_AGE_SECONDS), 'ALLOW'],
    ['a sign-in past the maximum age', signedIn(later(30)), later(31 + APPROVAL_MAX_AUTH_AGE_SECONDS), 'REAUTHENTICATE'],
  ])('steps up answering: %s', (_what, principal, at, expected) => {
    expect(outcome(decideApprovalAnswer(principal, approval, at))).toBe(expected);
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
