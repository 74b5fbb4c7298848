import { describe, expect, it } from 'vitest';
import { AGENT_SECRET_MAX_AUTH_AGE_SECONDS, decideAgentRegistration, decideSecretRotation } from '../../src/authz/agent-access.js';
import type { Principal } from '../../src/authz/principal.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';

const now = new Date('2031-03-01T09:00:00.000Z');
const secondsAgo = (seconds: number) => new Date(now.getTime() - seconds * 1_000);

const session: Principal = { kind: 'user', userId: 'usr_alice', clientId: 'hub-frontend', scopes: new Set(ALL_DATA_SCOPES), tokenId: 'jti', authTime: secondsAgo(60) };
const agent: Principal = {
  kind: 'delegated',
  userId: 'usr_alice',
  clientId: 'agt_helper',
  scopes: new Set(ALL_DATA_SCOPES),
  tokenId: 'jti',
  actorChain: ['agt_helper'],
  consentId: 'cns_helper',
  purpose: 'support',
};
const operator: Principal = { kind: 'client', clientId: 'agt_ops', scopes: new Set(['agents:admin']), tokenId: 'jti' };
const alicesAgent = { ownerUserId: 'usr_alice' };

const outcome = (decision: { allowed: boolean; reason?: string }) => (decision.allowed ? 'ALLOW' : decision.reason);

describe('the decisions that hand out an agent’s secret', () => {
  it.each<[string, string, Principal]>([
    ['the owner, a minute after signing in', 'ALLOW', session],
    ['the owner, exactly at the limit', 'ALLOW', { ...session, authTime: secondsAgo(AGENT_SECRET_MAX_AUTH_AGE_SECONDS) }],
    ['the owner, a second past the limit', 'REAUTHENTICATE', { ...session, authTime: secondsAgo(AGENT_SECRET_MAX_AUTH_AGE_SECONDS + 1) }],
    ['the owner, on a token that does not say when they signed in', 'REAUTHENTICATE', { ...session, authTime: undefined }],
    ['the owner, narrowed to profile:read and signed in long ago', 'MISSING_SCOPE', { ...session, scopes: new Set(['profile:read']), authTime: secondsAgo(86_400) }],
    ['another user, signed in long ago', 'NOT_SUBJECT', { ...session, userId: 'usr_bob', authTime: secondsAgo(86_400) }],
    ['an agent acting for the owner', 'MISSING_SCOPE', agent],
    ['an operator client with agents:admin, which has no sign-in', 'ALLOW', operator],
  ])('%s: %s', (_name, expected, principal) => {
    expect(outcome(decideAgentRegistration(principal, 'usr_alice', null, false, now))).toBe(expected);
    expect(outcome(decideSecretRotation(principal, alicesAgent, now))).toBe(expected);
  });
});
