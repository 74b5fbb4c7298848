import { describe, expect, it } from 'vitest';
import { principalFromToken, type Principal } from '../../src/authz/principal.js';
import { decideDataSubjectRequest, decideSelfErasure, ERASURE_MAX_AUTH_AGE_SECONDS, EXPORT_SCOPES } from '../../src/authz/privacy-access.js';
import { decideUserRecords } from '../../src/authz/profile-access.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';

const now = new Date('2031-03-01T09:00:00.000Z');
const secondsAgo = (seconds: number) => new Date(now.getTime() - seconds * 1_000);

const session: Principal = { kind: 'user', userId: 'usr_alice', clientId: 'hub-frontend', scopes: new Set(ALL_DATA_SCOPES), tokenId: 'jti', authTime: secondsAgo(60) };
const narrowed: Principal = { ...session, scopes: new Set(['profile:read']) };
const agent: Principal = {
  kind: 'delegated',
  userId: 'usr_alice',
  clientId: 'agt_helpdesk',
  scopes: new Set(ALL_DATA_SCOPES),
  tokenId: 'jti',
  actorChain: ['agt_helpdesk'],
  consentId: 'cns_helpdesk',
  purpose: 'helpdesk',
};
const operator: Principal = { kind: 'client', clientId: 'agt_ops', scopes: new Set(['users:admin']), tokenId: 'jti' };
const readsButContact = EXPORT_SCOPES.filter((scope) => scope !== 'contact:read');
const readsButProfile = EXPORT_SCOPES.filter((scope) => scope !== 'profile:read');

const outcome = (decision: { allowed: boolean; reason?: string }) => (decision.allowed ? 'ALLOW' : decision.reason);

describe('the user principal of a token', () => {
  it('carries when the user signed in (auth_time), and nothing when the token does not say', () => {
    const claims = { sub: 'usr_alice', client_id: 'hub-frontend', scope: 'profile:read', jti: 'jti' };
    expect(principalFromToken({ ...claims, auth_time: 1_930_122_000 })).toMatchObject({ kind: 'user', authTime: new Date('2031-03-01T09:00:00.000Z') });
    expect(principalFromToken(claims)).not.toHaveProperty('authTime');
  });
});

describe('the decision on an export', () => {
  it.each<[string, string, Principal]>([
    ['the user, with a sign-in’s scopes', 'ALLOW', session],
    ['the user, narrowed to reading every category', 'ALLOW', { ...session, scopes: new Set(EXPORT_SCOPES) }],
    ['the user, reading one category field by field', 'ALLOW', { ...session, scopes: new Set([...readsButContact, 'contact.email:read', 'contact.emailVerified:read', 'contact.phone:read']) }],
    ['the user, narrowed to profile:read', 'MISSING_SCOPE', narrowed],
    ['the user, without one field of a category', 'MISSING_SCOPE', { ...session, scopes: new Set([...readsButContact, 'contact.email:read']) }],
    ['another user', 'NOT_SUBJECT', { ...session, userId: 'usr_bob' }],
    ['an agent acting for the user, whatever its scopes', 'NOT_SUBJECT', agent],
    ['an operator with users:admin and every read scope', 'ALLOW', { ...operator, scopes: new Set(['users:admin', ...EXPORT_SCOPES]) }],
    ['an operator with users:admin alone, which reads no field', 'MISSING_SCOPE', operator],
    ['an operator reading profile field by field, without profile.id:read, which reading an id needs no more than User.id does', 'ALLOW', { ...operator, scopes: new Set(['users:admin', ...readsButProfile, ...['locale', 'country', 'createdAt', 'updatedAt', 'lastLoginAt'].map((field) => `profile.${field}:read`)]) }],
    ['a client without users:admin', 'MISSING_SCOPE', { ...operator, scopes: new Set(EXPORT_SCOPES) }],
  ])('%s: %s', (_name, expected, principal) => {
    expect(outcome(decideDataSubjectRequest(principal, 'usr_alice'))).toBe(expected);
  });
});

describe('the decision on erasing one’s own account', () => {
  it.each<[string, string, Principal]>([
    ['the user, with a sign-in’s scopes, a minute after signing in', 'ALLOW', session],
    ['the user, exactly at the limit', 'ALLOW', { ...session, authTime: secondsAgo(ERASURE_MAX_AUTH_AGE_SECONDS) }],
    ['the user, a second past the limit', 'REAUTHENTICATE', { ...session, authTime: secondsAgo(ERASURE_MAX_AUTH_AGE_SECONDS + 1) }],
    ['the user, on a token that does not say when they signed in', 'REAUTHENTICATE', { ...session, authTime: undefined }],
    ['the user, narrowed to profile:read', 'MISSING_SCOPE', narrowed],
    ['the user, narrowed and signed in long ago', 'MISSING_SCOPE', { ...narrowed, authTime: secondsAgo(20 * 86_400) }],
    ['another user', 'NOT_SUBJECT', { ...session, userId: 'usr_bob' }],
    ['an agent acting for the user', 'NOT_SUBJECT', agent],
    ['an operator, decided beside this on the field', 'NOT_SUBJECT', operator],
  ])('%s: %s', (_name, expected, principal) => {
    expect(outcome(decideSelfErasure(principal, 'usr_alice', now))).toBe(expected);
  });
});

describe('the decision on listing a user’s consents, connected agents or approvals', () => {
  it.each<[string, string, Principal]>([
    ['the user, even narrowed to profile:read', 'ALLOW', narrowed],
    ['another user', 'NOT_SUBJECT', { ...session, userId: 'usr_bob' }],
    ['an agent acting for the user, whatever its scopes', 'NOT_SUBJECT', agent],
    ['an operator with the scope named', 'ALLOW', { ...operator, scopes: new Set(['consents:admin']) }],
    ['an operator without it', 'MISSING_SCOPE', operator],
    ['a user whose token somehow carries the operator scope, for another user', 'NOT_SUBJECT', { ...session, userId: 'usr_bob', scopes: new Set(['consents:admin']) }],
  ])('%s: %s', (_name, expected, principal) => {
    expect(outcome(decideUserRecords(principal, 'usr_alice', 'consents:admin'))).toBe(expected);
  });
});
