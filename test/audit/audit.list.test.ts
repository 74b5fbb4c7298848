import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEventInput } from '../../src/audit/audit.actions.js';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { listAuditEvents, type AuditEvent, type AuditFilter } from '../../src/audit/audit.queries.js';
import { createTestDatabase, withTestDatabase, type TestDatabase } from '../helpers/database.js';
import { readEvent } from './audit-fixtures.js';

let database: TestDatabase;
let all: AuditEvent[];

const at = (minute: number) => new Date(Date.UTC(2025, 2, 1, 10, minute));

// 40 events over 20 minutes, two per minute (so the id breaks ties), spread over users, agents,
// actions and decisions.
beforeAll(async () => {
  database = await createTestDatabase();
  const events: AuditEventInput[] = Array.from({ length: 40 }, (_, i) => {
    const minute = Math.floor(i / 2);
    if (i % 5 === 0) return readEvent({ subjectUserId: 'usr_bob', occurredAt: at(minute), actor: { kind: 'client', id: 'agt_mkt' }, actorChain: [], action: 'audience.queried' });
    if (i % 5 === 1) return readEvent({ subjectUserId: null, occurredAt: at(minute), actor: { kind: 'system', id: null }, actorChain: [], action: 'key.rotated' });
    if (i % 5 === 2) return readEvent({ occurredAt: at(minute), decision: 'DENY', reason: 'CONSENT_WITHDRAWN' });
    return readEvent({ subjectUserId: i % 2 ? 'usr_alice' : 'usr_bob', occurredAt: at(minute), actorChain: ['agt_solo'], actor: { kind: 'delegated', id: 'agt_solo' } });
  });
  await appendAuditEvents(database.db, events, new Date());
  all = (await listAuditEvents(database.db, { first: 100 })).edges.map((edge) => edge.node);
});
afterAll(() => database.close());

async function everyPage(filter: AuditFilter, first: number): Promise<AuditEvent[]> {
  const seen: AuditEvent[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await listAuditEvents(database.db, { filter, first, after });
    seen.push(...page.edges.map((edge) => edge.node));
    expect(page.edges.length).toBeLessThanOrEqual(first);
    if (!page.pageInfo.hasNextPage) return seen;
    after = page.pageInfo.endCursor;
  }
}

describe('listAuditEvents', () => {
  it('lists newest first, breaking ties on the id, in the shape of API.md', () => {
    expect(all).toHaveLength(40);
    const keys = all.map((e) => [e.occurredAt.getTime(), e.id] as const);
    const sorted = [...keys].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : -1));
    expect(keys).toEqual(sorted);
    expect(all.find((e) => e.decision === 'DENY')).toMatchObject({
      action: 'profile.read',
      actor: { kind: 'delegated', id: 'agt_child' },
      actorChain: ['agt_child', 'agt_parent'],
      subjectUserId: 'usr_alice',
      clientId: 'agt_child',
      purpose: 'support',
      consentId: 'cns_1',
      fieldsRead: ['email', 'orders'],
      fieldsDenied: ['phone'],
      decision: 'DENY',
      reason: 'CONSENT_WITHDRAWN',
      requestId: 'req-1',
    });
  });

  it.each([1, 3, 7, 40])('pages through everything, %i at a time, without a repeat or a gap', async (first) => {
    expect((await everyPage({}, first)).map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it.each<[string, AuditFilter, (e: AuditEvent) => boolean]>([
    ['user', { userId: 'usr_bob' }, (e) => e.subjectUserId === 'usr_bob'],
    ['agent anywhere in the chain', { agentId: 'agt_parent' }, (e) => e.actorChain.includes('agt_parent')],
    ['agent as the actor', { agentId: 'agt_mkt' }, (e) => e.actor.id === 'agt_mkt'],
    ['action', { action: 'key.rotated' }, (e) => e.action === 'key.rotated'],
    ['decision', { decision: 'DENY' }, (e) => e.decision === 'DENY'],
    ['time range, from inclusive and to exclusive', { from: at(5), to: at(9) }, (e) => e.occurredAt >= at(5) && e.occurredAt < at(9)],
    ['several at once', { userId: 'usr_alice', agentId: 'agt_child', decision: 'DENY' }, (e) => e.subjectUserId === 'usr_alice' && e.actorChain.includes('agt_child') && e.decision === 'DENY'],
    ['user and agent', { userId: 'usr_bob', agentId: 'agt_solo', from: at(10) }, (e) => e.subjectUserId === 'usr_bob' && e.actorChain.includes('agt_solo') && e.occurredAt >= at(10)],
  ])('filters by %s, across pages', async (_, filter, expected) => {
    const want = all.filter(expected).map((e) => e.id);
    expect(want.length).toBeGreaterThan(0);
    expect(want.length).toBeLessThan(all.length);
    expect((await everyPage(filter, 3)).map((e) => e.id)).toEqual(want);
  });

  it('treats filter values as values, never as SQL', async () => {
    const page = await listAuditEvents(database.db, { filter: { userId: "usr_bob' or '1'='1", agentId: "x}'] or true --" } });
    expect(page.edges).toEqual([]);
  });

  it('serves pages of up to 100 and refuses a larger first', async () => {
    await withTestDatabase(async (db) => {
      await appendAuditEvents(db.db, Array.from({ length: 120 }, () => readEvent()), new Date());
      const page = await listAuditEvents(db.db, { first: 100 });
      expect(page.edges).toHaveLength(100);
      expect(page.pageInfo.hasNextPage).toBe(true);
      await expect(listAuditEvents(db.db, { first: 101 })).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'first' } });
    });
  });

  it('refuses a cursor it did not make and a negative first, with BAD_USER_INPUT', async () => {
    await expect(listAuditEvents(database.db, { after: 'bm90IGEgY3Vyc29y' })).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
    await expect(listAuditEvents(database.db, { first: -1 })).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'first' } });
  });

  it('answers an empty page for first: 0 and after the last event', async () => {
    const zero = await listAuditEvents(database.db, { first: 0 });
    expect(zero).toEqual({ edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
    const last = await listAuditEvents(database.db, { first: 40 });
    expect(await listAuditEvents(database.db, { after: last.pageInfo.endCursor })).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });
});
