import { describe, expect, it } from 'vitest';
import { decideAgentConsentGiving, decideAgentRegistration, decideSecretRotation } from '../../src/authz/agent-access.js';
import type { Principal } from '../../src/authz/principal.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';
import { RECENT_SIGN_IN_SECONDS } from '../../src/authz/step-up.js';

// The step-ups that keep a stolen access token from outliving itself: what hands out an agent's
// secret, and a consent to an agent whose token exchange answers a refresh token.
const now = new Date('2031-03-01T09:00:00.000Z');
const secondsAgo = (seconds: number) => new Date(now.getTime() - seconds * 1_000);

const session: Principal = { kind: 'user', userId: 'usr_alice', clientId: 'hub-frontend', scopes: new Set(ALL_DATA_SCOPES), tokenId: 'jti', authTime: secondsAgo(60) };
const delegated: Principal = {
  kind: 'delegated',
  userId: 'usr_alice',
  clientId: 'agt_helper',
  scopes: new Set(ALL_DATA_SCOPES),
  tokenId: 'jti',
  actorChain: ['agt_helper'],
  consentId: 'cns_helper',
  purpose: 'support',
};
const client = (scope: string): Principal => ({ kind: 'client', clientId: 'agt_ops', scopes: new Set([scope]), tokenId: 'jti' });
const alicesAgent = { ownerUserId: 'usr_alice' };
const offline = { allowedScopes: ['orders:read', 'offline_access'] };
const online = { allowedScopes: ['orders:read'] };

const outcome = (decision: { allowed: boolean; reason?: string }) => (decision.allowed ? 'ALLOW' : decision.reason);

describe('the decisions that hand out an agent’s secret', () => {
  it.each<[string, string, Principal]>([
    ['the owner, a minute after signing in', 'ALLOW', session],
    ['the owner, exactly at the limit', 'ALLOW', { ...session, authTime: secondsAgo(RECENT_SIGN_IN_SECONDS) }],
    ['the owner, a second past the limit', 'REAUTHENTICATE', { ...session, authTime: secondsAgo(RECENT_SIGN_IN_SECONDS + 1) }],
    ['the owner, on a token that does not say when they signed in', 'REAUTHENTICATE', { ...session, authTime: undefined }],
    ['the owner, narrowed to profile:read and signed in long ago', 'MISSING_SCOPE', { ...session, scopes: new Set(['profile:read']), authTime: secondsAgo(86_400) }],
    ['another user, signed in long ago', 'NOT_SUBJECT', { ...session, userId: 'usr_bob', authTime: secondsAgo(86_400) }],
    ['an agent acting for the owner', 'MISSING_SCOPE', delegated],
    ['an operator client with agents:admin, which has no sign-in', 'ALLOW', client('agents:admin')],
  ])('%s: %s', (_name, expected, principal) => {
    expect(outcome(decideAgentRegistration(principal, 'usr_alice', null, false, now))).toBe(expected);
    expect(outcome(decideSecretRotation(principal, alicesAgent, now))).toBe(expected);
  });
});

// A consent is what lets an agent exchange the user's token; to an agent whose ceiling holds
// offline_access, the exchange answers a refresh token that outlives the token that consented.
describe('the decision on a consent to an agent that may keep a refresh token for the user', () => {
  it.each<[string, string, Principal]>([
    ['the user, a minute after signing in', 'ALLOW', session],
    ['the user, exactly at the limit', 'ALLOW', { ...session, authTime: secondsAgo(RECENT_SIGN_IN_SECONDS) }],
    ['the user, a second past the limit', 'REAUTHENTICATE', { ...session, authTime: secondsAgo(RECENT_SIGN_IN_SECONDS + 1) }],
    ['the user, on a token that does not say when they signed in', 'REAUTHENTICATE', { ...session, authTime: undefined }],
    ['the user, narrowed below the scopes delegated and signed in long ago', 'MISSING_SCOPE', { ...session, scopes: new Set(['profile:read']), authTime: secondsAgo(86_400) }],
    ['an agent acting for the user', 'MISSING_SCOPE', delegated],
    ['an operator client with consents:admin', 'MISSING_SCOPE', client('consents:admin')],
  ])('%s: %s', (_name, expected, principal) => {
    expect(outcome(decideAgentConsentGiving(principal, ['orders:read'], offline, now))).toBe(expected);
  });

  it('asks no recent sign-in for an agent that can never hold a refresh token, nor for an agent it does not know', () => {
    const old = { ...session, authTime: secondsAgo(20 * 86_400) };
    expect(outcome(decideAgentConsentGiving(old, ['orders:read'], online, now))).toBe('ALLOW');
    expect(outcome(decideAgentConsentGiving(old, ['orders:read'], null, now))).toBe('ALLOW');
    expect(outcome(decideAgentConsentGiving({ ...old, scopes: new Set(['profile:read']) }, ['orders:read'], online, now))).toBe('MISSING_SCOPE');
  });
});
