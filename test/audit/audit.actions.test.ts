import { describe, expect, it } from 'vitest';
import { actorFromPrincipal, prepareAuditEvent, scrubDetail } from '../../src/audit/audit.actions.js';
import { CANONICAL_AUDIT_COLUMNS, canonicalAuditRow } from '../../src/audit/audit.hash.js';
import { ANONYMOUS, type Principal } from '../../src/authz/principal.js';
import { isId } from '../../src/shared/ids.js';
import { readEvent } from './audit-fixtures.js';

describe('scrubDetail', () => {
  it('drops every key naming a secret, in any case and at any depth, and keeps the rest', () => {
    const detail = {
      email: 'a@example.com',
      password: 'hunter2',
      clientSecret: 's3cr3t',
      Authorization: 'Bearer abc',
      nested: { refresh_token: 'rt', Cookie: 'sid=1', kept: 1, deeper: { accessToken: 'at', fine: 'yes' } },
      list: [{ id_token: 'x', n: 1 }, 'plain', ['SECRET_KEY', { newPassword: 'p' }]],
      grant: 'client_credentials',
    };
    expect(scrubDetail(detail)).toEqual({
      email: 'a@example.com',
      nested: { kept: 1, deeper: { fine: 'yes' } },
      list: [{ n: 1 }, 'plain', ['SECRET_KEY', {}]],
      grant: 'client_credentials',
    });
  });

  it('returns plain JSON: undefined dropped, dates as ISO strings, nothing shared with the input', () => {
    const input = { when: new Date('2025-03-01T10:00:00.000Z'), gone: undefined, list: [1] };
    const out = scrubDetail(input);
    expect(out).toEqual({ when: '2025-03-01T10:00:00.000Z', list: [1] });
    input.list.push(2);
    expect(out.list).toEqual([1]);
    expect(scrubDetail(undefined)).toEqual({});
  });

  it('is applied to every event before it is stored', () => {
    const prepared = prepareAuditEvent(readEvent({ detail: { token: 'eyJ...', scope: 'orders:read' } }), new Date());
    expect(prepared.detail).toEqual({ scope: 'orders:read' });
  });
});

describe('actorFromPrincipal', () => {
  const scopes = new Set(['orders:read']);
  it.each<[string, Principal, unknown]>([
    ['anonymous', ANONYMOUS, { actor: { kind: 'anonymous', id: null }, actorChain: [], clientId: null, purpose: null, consentId: null }],
    [
      'user',
      { kind: 'user', userId: 'usr_1', clientId: 'agt_web', scopes, tokenId: 'jti' },
      { actor: { kind: 'user', id: 'usr_1' }, actorChain: [], clientId: 'agt_web', purpose: null, consentId: null },
    ],
    [
      'client',
      { kind: 'client', clientId: 'agt_mkt', scopes, tokenId: 'jti' },
      { actor: { kind: 'client', id: 'agt_mkt' }, actorChain: [], clientId: 'agt_mkt', purpose: null, consentId: null },
    ],
    [
      'delegated',
      { kind: 'delegated', userId: 'usr_1', clientId: 'agt_child', scopes, tokenId: 'jti', actorChain: ['agt_child', 'agt_parent'], consentId: 'cns_1', purpose: 'support' },
      { actor: { kind: 'delegated', id: 'agt_child' }, actorChain: ['agt_child', 'agt_parent'], clientId: 'agt_child', purpose: 'support', consentId: 'cns_1', actingFor: 'usr_1' },
    ],
  ])('maps a %s principal', (_, principal, expected) => {
    expect(actorFromPrincipal(principal)).toEqual(expected);
  });
});

describe('prepareAuditEvent', () => {
  it('fills defaults, keeps a given id and time, and is idempotent', () => {
    const now = new Date('2025-05-05T05:05:05.005Z');
    const prepared = prepareAuditEvent({ action: 'key.rotated', actor: { kind: 'system', id: null }, decision: 'ALLOW' }, now);
    expect(isId('evt', prepared.id)).toBe(true);
    expect(prepared).toMatchObject({ occurredAt: now, actorChain: [], fieldsRead: [], fieldsDenied: [], subjectUserId: null, detail: {} });
    expect(prepareAuditEvent(prepared, new Date())).toEqual(prepared);
  });

  it('names the consent of a delegated caller only on events about the user it acts for', () => {
    const delegated: Principal = { kind: 'delegated', userId: 'usr_1', clientId: 'agt_child', scopes: new Set(), tokenId: 'jti', actorChain: ['agt_child'], consentId: 'cns_1', purpose: 'support' };
    const about = (subjectUserId: string | null) => prepareAuditEvent(readEvent({ ...actorFromPrincipal(delegated), subjectUserId }), new Date());
    expect(about('usr_1')).toMatchObject({ consentId: 'cns_1', purpose: 'support', actorChain: ['agt_child'] });
    expect(about('usr_2')).toMatchObject({ consentId: null, purpose: null, actor: { kind: 'delegated', id: 'agt_child' }, actorChain: ['agt_child'] });
    expect(about(null)).toMatchObject({ consentId: 'cns_1', purpose: 'support' });
    expect(about('usr_2')).not.toHaveProperty('actingFor');
  });

  it('refuses an unknown action, actor kind or decision with a TypeError', () => {
    const now = new Date();
    expect(() => prepareAuditEvent(readEvent({ action: 'profile.deleted' as never }), now)).toThrow(TypeError);
    expect(() => prepareAuditEvent(readEvent({ actor: { kind: 'robot' as never, id: null } }), now)).toThrow(TypeError);
    expect(() => prepareAuditEvent(readEvent({ decision: 'allow' as never }), now)).toThrow(TypeError);
  });
});

describe('canonicalAuditRow', () => {
  it('does not depend on the key order of detail', () => {
    const row = {
      id: 'evt_1',
      occurred_at: new Date('2025-01-01T00:00:00.001Z'),
      action: 'profile.read',
      actor_kind: 'user' as const,
      actor_id: 'usr_1',
      actor_chain: [],
      subject_user_id: 'usr_1',
      client_id: null,
      purpose: null,
      consent_id: null,
      fields_read: ['email'],
      fields_denied: [],
      decision: 'allow' as const,
      reason: null,
      request_id: null,
      chain_key: 'usr_1',
      chain_seq: 1,
      prev_hash: new Uint8Array(32),
    };
    const a = canonicalAuditRow({ ...row, detail: { b: { y: 1, x: 2 }, a: 1 } });
    const b = canonicalAuditRow({ ...row, detail: { a: 1, b: { x: 2, y: 1 } } });
    expect(a).toBe(b);
    expect(a).toContain('"2025-01-01T00:00:00.001Z"');
  });

  it('serializes the columns in the order of CANONICAL_AUDIT_COLUMNS, which the append reads them in', () => {
    const serialized: Record<string, unknown> = { occurred_at: '1970-01-01T00:00:00.000Z', detail: {}, prev_hash: '00' };
    const row = { ...Object.fromEntries(CANONICAL_AUDIT_COLUMNS.map((column) => [column, `${column} value`])), occurred_at: new Date(0), detail: {}, prev_hash: new Uint8Array(1) };
    expect(JSON.parse(canonicalAuditRow(row as never))).toEqual(['audit-event/1', ...CANONICAL_AUDIT_COLUMNS.map((column) => serialized[column] ?? `${column} value`)]);
  });
});
