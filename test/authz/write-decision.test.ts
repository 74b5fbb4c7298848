import { describe, expect, it } from 'vitest';
import type { GrantState, Principal } from '../../src/authz/principal.js';
import { decideWrite } from '../../src/authz/profile-access.js';
import type { FieldRef } from '../../src/authz/scopes.js';

const PHONE: FieldRef = { category: 'contact', field: 'phone' };
const GIVEN_NAME: FieldRef = { category: 'identity', field: 'givenName' };

const agent: Principal = {
  kind: 'delegated',
  userId: 'usr_alice',
  clientId: 'agt_helpdesk',
  scopes: new Set(['contact:write', 'orders:read']),
  tokenId: 'jti',
  actorChain: ['agt_helpdesk'],
  consentId: 'cns_helpdesk',
  purpose: 'helpdesk',
};
const consent = { userId: 'usr_alice', status: 'active', expired: false, scopes: ['contact:write', 'orders:read'], purpose: 'helpdesk' } as const;
const grant: GrantState = { agentsLive: true, consent, purposeCategories: ['contact', 'orders'] };
const user: Principal = { kind: 'user', userId: 'usr_alice', clientId: 'hub-frontend', scopes: new Set(['contact:write', 'identity:write']), tokenId: 'jti' };
const operator: Principal = { kind: 'client', clientId: 'agt_ops', scopes: new Set(['users:admin', 'contact:write']), tokenId: 'jti' };

describe('the decision on a profile write', () => {
  it.each<[string, Principal, readonly FieldRef[], GrantState | null, string]>([
    ['the user, with the write scope of every field', user, [PHONE, GIVEN_NAME], null, 'ALLOW'],
    ['the user, without the write scope of one field', { ...user, scopes: new Set(['contact:write']) }, [PHONE, GIVEN_NAME], null, 'MISSING_SCOPE'],
    ['the user, naming no field', user, [], null, 'MISSING_SCOPE'],
    ['an operator, even with users:admin and the write scope', operator, [PHONE], null, 'NOT_SUBJECT'],
    ['an operator, naming no field', operator, [], null, 'NOT_SUBJECT'],
    ['an agent covered by its token, consent and purpose', agent, [PHONE], grant, 'ALLOW'],
    ['an agent with a single-field write scope in token and consent', { ...agent, scopes: new Set(['contact.phone:write']) }, [PHONE], { ...grant, consent: { ...consent, scopes: ['contact.phone:write'] } }, 'ALLOW'],
    ['an agent naming no field', agent, [], grant, 'MISSING_SCOPE'],
    ['an agent whose token lacks the write scope', { ...agent, scopes: new Set(['contact:read']) }, [PHONE], grant, 'MISSING_SCOPE'],
    ['an agent writing one covered and one uncovered field', agent, [PHONE, GIVEN_NAME], grant, 'MISSING_SCOPE'],
    ['an agent without a grant state', agent, [PHONE], null, 'NO_CONSENT'],
    ['an agent with no consent', agent, [PHONE], { ...grant, consent: null }, 'NO_CONSENT'],
    ['an agent under another user’s consent', agent, [PHONE], { ...grant, consent: { ...consent, userId: 'usr_bob' } }, 'NO_CONSENT'],
    ['an agent under a withdrawn consent', agent, [PHONE], { ...grant, consent: { ...consent, status: 'withdrawn' } }, 'CONSENT_WITHDRAWN'],
    ['an agent under an expired consent', agent, [PHONE], { ...grant, consent: { ...consent, expired: true } }, 'CONSENT_EXPIRED'],
    ['an agent with a suspended agent in its chain', agent, [PHONE], { ...grant, agentsLive: false }, 'AGENT_INACTIVE'],
    ['an agent whose consent grants contact read only', agent, [PHONE], { ...grant, consent: { ...consent, scopes: ['contact:read'] } }, 'NO_CONSENT'],
    ['an agent whose purpose no longer covers contact', agent, [PHONE], { ...grant, purposeCategories: ['orders'] }, 'PURPOSE_NOT_COVERED'],
    ['an agent whose purpose is unknown', agent, [PHONE], { ...grant, purposeCategories: null }, 'PURPOSE_NOT_COVERED'],
  ])('%s', (_what, principal, refs, state, expected) => {
    const decision = decideWrite(principal, refs, state);
    expect(decision.allowed ? 'ALLOW' : decision.reason).toBe(expected);
  });
});
