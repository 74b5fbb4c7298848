import { describe, expect, it } from 'vitest';
import { decideDelegatedField } from '../../src/authz/delegation.js';
import type { GrantState, Principal } from '../../src/authz/principal.js';
import type { FieldRef } from '../../src/authz/scopes.js';

type Delegated = Extract<Principal, { kind: 'delegated' }>;

const EMAIL: FieldRef = { category: 'contact', field: 'email' };
const ORDERS: FieldRef = { category: 'orders', field: 'orders' };

const agent: Delegated = {
  kind: 'delegated',
  userId: 'usr_alice',
  clientId: 'agt_helpdesk',
  scopes: new Set(['contact:read', 'orders:read']),
  tokenId: 'jti',
  actorChain: ['agt_helpdesk'],
  consentId: 'cns_helpdesk',
  purpose: 'helpdesk',
};
const consent = { userId: 'usr_alice', status: 'active', expired: false, scopes: ['contact:read', 'orders:read'], purpose: 'helpdesk' } as const;
const grant: GrantState = { agentsLive: true, consent, purposeCategories: ['contact', 'orders'] };

describe('the decision on a field an agent reads for a user', () => {
  it.each<[string, Delegated, GrantState, string, FieldRef, string]>([
    ['the user it acts for, covered by token, consent and purpose', agent, grant, 'usr_alice', EMAIL, 'ALLOW'],
    ['another user, though every other check would pass', agent, grant, 'usr_bob', EMAIL, 'NOT_SUBJECT'],
    ['another user, under a consent naming that user', agent, { ...grant, consent: { ...consent, userId: 'usr_bob' } }, 'usr_bob', ORDERS, 'NOT_SUBJECT'],
  ])('%s', (_what, principal, state, userId, ref, expected) => {
    const decision = decideDelegatedField(principal, state, userId, ref);
    expect(decision.allowed ? 'ALLOW' : decision.reason).toBe(expected);
  });
});
