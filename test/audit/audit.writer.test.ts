import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuditEventInput } from '../../src/audit/audit.actions.js';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { listAuditEvents } from '../../src/audit/audit.queries.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { AuditWriter, type AuditLogger } from '../../src/audit/audit.writer.js';
import type { Db } from '../../src/db/connect.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { countEvents, readEvent } from './audit-fixtures.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

function fakeLogger() {
  return { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

const connectionLost = () => Object.assign(new Error('connection terminated unexpectedly'), { code: '08006' });

/**
 * The database, except that its next `failures` transactions fail with `error`; `afterCommit`
 * fails them only once committed.
 */
function flakyDb(db: Db, failures: number, mode: 'before' | 'afterCommit' = 'before', error: () => Error = connectionLost): Db {
  let left = failures;
  return new Proxy(db, {
    get(target, property) {
      if (property === 'transaction' && left > 0) {
        left -= 1;
        return () => ({
          execute: async (work: (trx: unknown) => Promise<unknown>) => {
            if (mode === 'afterCommit') await target.transaction().execute(work as never);
            throw error();
          },
        });
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const clock = fixedClock('2025-04-10T08:00:00.000Z');

describe('AuditWriter', () => {
  it('buffers events and writes them in the background, stamped when recorded', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, clock);
    const before = await countEvents(database.db);
    writer.record(readEvent({ subjectUserId: 'usr_bg' }));
    clock.advance(1);
    writer.record(readEvent({ subjectUserId: 'usr_bg', requestId: 'req-2' }));
    expect(writer.pending).toBe(2);
    await vi.waitFor(async () => expect(await countEvents(database.db)).toBe(before + 2), { timeout: 5_000 });
    const page = await listAuditEvents(database.db, { filter: { userId: 'usr_bg' } });
    expect(page.edges.map((e) => [e.node.requestId, e.node.occurredAt.toISOString()])).toEqual([
      ['req-2', '2025-04-10T08:00:01.000Z'],
      ['req-1', '2025-04-10T08:00:00.000Z'],
    ]);
    await writer.close();
    expect(logger.error).not.toHaveBeenCalled();
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('writes a full batch at once, without waiting for the interval', async () => {
    const writer = new AuditWriter(database.db, fakeLogger() as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, maxBatch: 20 });
    const before = await countEvents(database.db);
    for (let i = 0; i < 45; i++) writer.record(readEvent({ subjectUserId: `usr_batch${i % 4}` }));
    await vi.waitFor(async () => expect(await countEvents(database.db)).toBe(before + 40), { timeout: 5_000 });
    expect(writer.pending).toBe(5);
    await writer.flush();
    expect(await countEvents(database.db)).toBe(before + 45);
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
    await writer.close();
  });

  it('writes a batch as soon as it is full, one that filled while another was written too', async () => {
    const writer = new AuditWriter(database.db, fakeLogger() as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, maxBatch: 2 });
    const before = await countEvents(database.db);
    for (let i = 0; i < 2; i++) writer.record(readEvent({ subjectUserId: 'usr_full' }));
    await vi.waitFor(async () => expect(await countEvents(database.db)).toBe(before + 2), { timeout: 5_000 });
    // Two go out at once; the next two fill a batch while those are written.
    for (let i = 0; i < 4; i++) writer.record(readEvent({ subjectUserId: 'usr_full' }));
    await vi.waitFor(async () => expect(await countEvents(database.db)).toBe(before + 6), { timeout: 5_000 });
    expect(writer.pending).toBe(0);
    await writer.close();
  });

  it('writes an event recorded while a batch was being written soon after, unasked', async () => {
    let writer: AuditWriter | undefined;
    let second: AuditEventInput | undefined = readEvent({ subjectUserId: 'usr_meanwhile', requestId: 'req-2' });
    // The write of the first event begins its transaction only once a second event is recorded.
    const busy = new Proxy(database.db, {
      get(target, property) {
        if (property === 'transaction' && second) {
          writer!.record(second);
          second = undefined;
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    writer = new AuditWriter(busy, fakeLogger() as unknown as AuditLogger, clock, { flushIntervalMs: 1 });
    const before = await countEvents(database.db);
    writer.record(readEvent({ subjectUserId: 'usr_meanwhile', requestId: 'req-1' }));
    await vi.waitFor(async () => expect(await countEvents(database.db)).toBe(before + 2), { timeout: 5_000 });
    await writer.close();
  });

  it('retries a failed write once and logs the failure as a warning', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(flakyDb(database.db, 1), logger as unknown as AuditLogger, clock, { retryDelayMs: 1 });
    const before = await countEvents(database.db);
    writer.record(readEvent({ subjectUserId: 'usr_retry' }));
    await writer.close();
    expect(await countEvents(database.db)).toBe(before + 1);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('does not write a batch twice when the failure came after its commit', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(flakyDb(database.db, 1, 'afterCommit'), logger as unknown as AuditLogger, clock, { retryDelayMs: 1 });
    const before = await countEvents(database.db);
    writer.record(readEvent({ subjectUserId: 'usr_once' }));
    writer.record(readEvent({ subjectUserId: 'usr_once' }));
    await writer.close();
    expect(await countEvents(database.db)).toBe(before + 2);
    expect(logger.error).not.toHaveBeenCalled();
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });

  it('writes the events recorded while a batch that committed unacknowledged is held, and that batch once', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(flakyDb(database.db, 1, 'afterCommit'), logger as unknown as AuditLogger, clock, { flushIntervalMs: 1, retryDelayMs: 500 });
    const before = await countEvents(database.db);
    writer.record(readEvent({ subjectUserId: 'usr_rejoined' }));
    await vi.waitFor(() => expect(logger.warn).toHaveBeenCalledTimes(1), { timeout: 10_000, interval: 5 });
    for (let i = 0; i < 5; i++) writer.record(readEvent({ subjectUserId: 'usr_rejoined' }));
    // The held event and the five new ones wait together, so they go out in one batch.
    expect(writer.pending).toBe(6);
    await writer.close();
    expect(await countEvents(database.db)).toBe(before + 6);
    expect(logger.error).not.toHaveBeenCalled();
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });

  it('holds events while the server has no connection slot left, and writes them once it has', async () => {
    const logger = fakeLogger();
    const full = () => Object.assign(new Error('sorry, too many clients already'), { code: '53300' });
    const writer = new AuditWriter(flakyDb(database.db, 4, 'before', full), logger as unknown as AuditLogger, clock, { retryDelayMs: 1 });
    const before = await countEvents(database.db);
    writer.record(readEvent({ subjectUserId: 'usr_held' }));
    await writer.flush();
    expect(await countEvents(database.db)).toBe(before + 1);
    expect(logger.error).not.toHaveBeenCalled();
    await writer.close();
  });

  it('holds events while the server cancels its writes (a statement timeout on a slow server), and writes them once it answers in time', async () => {
    const logger = fakeLogger();
    const cancelled = () => Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    const writer = new AuditWriter(flakyDb(database.db, 4, 'before', cancelled), logger as unknown as AuditLogger, clock, { retryDelayMs: 1 });
    const before = await countEvents(database.db);
    writer.record(readEvent({ subjectUserId: 'usr_slow' }));
    await writer.flush();
    expect(await countEvents(database.db)).toBe(before + 1);
    expect(logger.error).not.toHaveBeenCalled();
    await writer.close();
  });

  it('writes fewer events at once when the server cancels a batch as too slow, rather than hold it forever', async () => {
    const logger = fakeLogger();
    const cancelled = () => Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    // A server that takes up to two events within its statement timeout, and cancels any more.
    const slow = new Proxy(database.db, {
      get(target, property) {
        if (property !== 'transaction') return Reflect.get(target, property, target);
        return () => ({
          execute: (work: (trx: Db) => Promise<unknown>) =>
            target.transaction().execute(async (trx) => {
              const before = await countEvents(trx);
              const result = await work(trx);
              if ((await countEvents(trx)) - before > 2) throw cancelled();
              return result;
            }),
        });
      },
    });
    const writer = new AuditWriter(slow, logger as unknown as AuditLogger, clock, { retryDelayMs: 1, maxBatch: 8 });
    const before = await countEvents(database.db);
    for (let i = 0; i < 8; i++) writer.record(readEvent({ subjectUserId: 'usr_slow_batch', requestId: `req-${i}` }));
    await vi.waitFor(async () => expect(await countEvents(database.db)).toBe(before + 8), { timeout: 5_000 });
    const page = await listAuditEvents(database.db, { filter: { userId: 'usr_slow_batch' }, first: 10 });
    expect(page.edges.map((e) => e.node.requestId).reverse()).toEqual(Array.from({ length: 8 }, (_, i) => `req-${i}`));
    await writer.close();
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('logs a batch that failed twice in full and drops it, never throwing to the caller', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(flakyDb(database.db, 2), logger as unknown as AuditLogger, clock, { retryDelayMs: 1 });
    const before = await countEvents(database.db);
    expect(() => writer.record(readEvent({ subjectUserId: 'usr_lost' }))).not.toThrow();
    await writer.close();
    expect(await countEvents(database.db)).toBe(before);
    expect(logger.error).toHaveBeenCalledTimes(1);
    const [fields, message] = logger.error.mock.calls[0]!;
    expect(message).toBe('audit: 1 events could not be written and are lost');
    expect(fields.events).toEqual([expect.objectContaining({ subjectUserId: 'usr_lost', action: 'profile.read' })]);
  });

  it('writes the rest of a batch when the database refuses one event in it', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, clock, { retryDelayMs: 1 });
    const before = await countEvents(database.db);
    // A chain key far past what a B-tree index entry can hold: PostgreSQL refuses the row.
    const refused = `usr_${randomBytes(8_000).toString('hex')}`;
    for (const subjectUserId of ['usr_kept1', 'usr_kept2', refused, 'usr_kept3']) writer.record(readEvent({ subjectUserId }));
    await writer.close();
    expect(await countEvents(database.db)).toBe(before + 3);
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.error.mock.calls[0]![1]).toBe('audit: 1 events could not be written and are lost');
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });

  it('stores text PostgreSQL would refuse (U+0000, unpaired surrogates) as U+FFFD, keeping the chain whole', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, clock);
    writer.record(readEvent({ subjectUserId: 'usr_text', reason: 'a\u0000b\u0000c', detail: { filter: { interestsAny: ['\ud800', 'x\udfffy'] }, ['k\u0000']: 1 } }));
    writer.record(readEvent({ subjectUserId: 'usr_text' }));
    await writer.close();
    const page = await listAuditEvents(database.db, { filter: { userId: 'usr_text' } });
    expect(page.edges).toHaveLength(2);
    const stored = page.edges[1]!.node;
    expect(stored.reason).toBe('a\uFFFDb\uFFFDc');
    expect(stored.detail).toEqual({ filter: { interestsAny: ['\uFFFD', 'x\uFFFDy'] }, ['k\uFFFD']: 1 });
    expect(logger.error).not.toHaveBeenCalled();
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });

  it('logs and drops a malformed event or one recorded after close, keeping the rest', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, clock);
    const before = await countEvents(database.db);
    expect(() => writer.record(readEvent({ action: 'profile.deleted' as never }))).not.toThrow();
    expect(() => writer.record(null as never)).not.toThrow();
    writer.record(readEvent());
    await writer.close();
    expect(() => writer.record(readEvent())).not.toThrow();
    expect(await countEvents(database.db)).toBe(before + 1);
    expect(logger.error).toHaveBeenCalledTimes(3);
  });

  it('is backlogged from maxBuffered events on, keeps events up to twice that, and counts the ones dropped past it', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, maxBuffered: 3 });
    for (let i = 0; i < 2; i++) writer.record(readEvent());
    expect(writer.backlogged).toBe(false);
    writer.record(readEvent());
    expect(writer.backlogged).toBe(true);
    for (let i = 0; i < 5; i++) writer.record(readEvent());
    expect(writer.pending).toBe(6);
    expect(logger.warn.mock.calls.map((call) => call[0])).toEqual(['audit: 3 events are waiting to be written; requests are turned away until fewer are']);
    expect(logger.error).toHaveBeenCalledTimes(1);
    await writer.flush();
    expect(writer.backlogged).toBe(false);
    await writer.close();
    expect(logger.error.mock.calls.map((call) => call[0])).toEqual([
      'audit: 6 events are waiting to be written; dropping new ones',
      'audit: 2 events were dropped while the buffer was full',
    ]);
  });

  it('makes sure the partitions of the month exist at start and when the month turns', async () => {
    const later = fixedClock('2098-01-20T00:00:00.000Z');
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, later);
    writer.record(readEvent());
    await writer.flush();
    later.set('2098-02-28T23:59:59.000Z');
    writer.record(readEvent());
    later.set('2098-03-01T00:00:00.000Z');
    writer.record(readEvent());
    await writer.close();
    const { rows } = await sql<{ part: string }>`
      select tableoid::regclass::text as part from audit_events where occurred_at >= '2098-01-01' order by occurred_at`.execute(database.db);
    expect(rows.map((r) => r.part)).toEqual(['audit_events_2098_01', 'audit_events_2098_02', 'audit_events_2098_03']);
    expect(logger.info.mock.calls.map((call) => call[0])).toEqual([
      'audit: created partitions audit_events_2098_01, audit_events_2098_02',
      'audit: created partitions audit_events_2098_03, audit_events_2098_04',
    ]);
  });

  it('makes the next month’s partitions in time though it writes no event all month, for the changes that audit in their own transaction', async () => {
    // Changes (sign-ins, refreshes, consents) append their events in their own transactions, not
    // through the writer: a month in which the writer had nothing to write must still end with the
    // next month's partition made, or the next month's events go to the default partition for good.
    const at = fixedClock('2093-11-20T00:00:00.000Z');
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, at, { partitionCheckMs: 20 });
    try {
      await writer.flush();
      at.set('2093-12-01T00:00:00.000Z');
      const made = async () => (await sql<{ part: string | null }>`select to_regclass('audit_events_2094_01')::text as part`.execute(database.db)).rows[0]!.part;
      await vi.waitFor(async () => expect(await made()).toBe('audit_events_2094_01'), { timeout: 5_000 });
      const lastOfYear = readEvent({ subjectUserId: 'usr_new_year', requestId: 'req-dec' });
      const firstOfYear = readEvent({ subjectUserId: 'usr_new_year', requestId: 'req-jan' });
      await database.db.transaction().execute((trx) => appendAuditEvents(trx, [lastOfYear], new Date('2093-12-31T23:59:59.999Z')));
      await database.db.transaction().execute((trx) => appendAuditEvents(trx, [firstOfYear], new Date('2094-01-01T00:00:00.000Z')));
      const { rows } = await sql<{ part: string; request_id: string }>`
        select tableoid::regclass::text as part, request_id from audit_events where subject_user_id = 'usr_new_year' order by occurred_at`.execute(database.db);
      expect(rows).toEqual([
        { part: 'audit_events_2093_12', request_id: 'req-dec' },
        { part: 'audit_events_2094_01', request_id: 'req-jan' },
      ]);
      expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
      expect(logger.info.mock.calls.map((call) => call[0])).toEqual(['audit: created partitions audit_events_2093_11, audit_events_2093_12', 'audit: created partitions audit_events_2094_01']);
    } finally {
      await writer.close();
    }
  });

  it('makes sure of the month’s partitions as it starts, with no event recorded yet, and says nothing of those that exist', async () => {
    // A change audits its event in its own transaction, not through the writer: were its month's
    // partition missing, the event would go to the default partition, and the month stay there.
    const at = fixedClock('2095-03-10T00:00:00.000Z');
    const logger = fakeLogger();
    await new AuditWriter(database.db, logger as unknown as AuditLogger, at).close();
    expect(logger.info.mock.calls.map((call) => call[0])).toEqual(['audit: created partitions audit_events_2095_03, audit_events_2095_04']);
    const again = fakeLogger();
    await new AuditWriter(database.db, again as unknown as AuditLogger, at).close();
    expect(again.info).not.toHaveBeenCalled();
    expect(again.warn).not.toHaveBeenCalled();
  });

  it('tries again to make the partitions it could not, a minute later and not sooner', async () => {
    const at = fixedClock('2096-05-10T00:00:00.000Z');
    const logger = fakeLogger();
    const created = () => logger.info.mock.calls.map((call) => call[0]).filter((message) => /created partitions/.test(message));
    await sql`alter function audit_ensure_partitions(timestamptz) rename to audit_ensure_partitions_gone`.execute(database.db);
    let writer: AuditWriter;
    try {
      writer = new AuditWriter(database.db, logger as unknown as AuditLogger, at);
      await vi.waitFor(() => expect(logger.warn).toHaveBeenCalledTimes(1), { timeout: 10_000 });
    } finally {
      await sql`alter function audit_ensure_partitions_gone(timestamptz) rename to audit_ensure_partitions`.execute(database.db);
    }
    at.advance(59);
    writer.record(readEvent());
    await writer.flush();
    expect(created()).toEqual([]);
    at.advance(1);
    writer.record(readEvent());
    await writer.close();
    // The month's events went to the default partition meanwhile, so it stays there: the next month is made.
    expect(created()).toEqual(['audit: created partitions audit_events_2096_06']);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0]![1]).toBe('audit: could not create partitions; events go to the default partition');
  });

  it('waits at close for a slow database that still takes batches, however long the backlog takes in all', async () => {
    // Every transaction takes 100 ms: 15 batches of one take 1.5 s, three times the close's wait.
    const slow = new Proxy(database.db, {
      get(target, property) {
        if (property !== 'transaction') return Reflect.get(target, property);
        return () => ({ execute: async (work: never) => (await new Promise((resolve) => setTimeout(resolve, 100)), target.transaction().execute(work)) });
      },
    }) as Db;
    const logger = fakeLogger();
    const writer = new AuditWriter(slow, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, maxBatch: 1, closeTimeoutMs: 500 });
    const before = await countEvents(database.db);
    for (let i = 0; i < 15; i++) writer.record(readEvent({ subjectUserId: `usr_slow${i % 3}` }));
    await writer.close();
    expect(logger.error).not.toHaveBeenCalled();
    expect(await countEvents(database.db)).toBe(before + 15);
  });
});

describe.skipIf(testServerUrl() === undefined)('AuditWriter beside a change that audits two subjects in separate calls', () => {
  /** Lock requests of this database's sessions still waiting. */
  const waiting = async (db: Db) =>
    Number((await sql<{ n: string }>`select count(*) as n from pg_locks l join pg_stat_activity a on a.pid = l.pid where not l.granted and a.datname = current_database()`.execute(db)).rows[0]!.n);

  it('gives way to the change, rather than deadlock with it, and writes its batch after', async () => {
    const logger = fakeLogger();
    const writer = new AuditWriter(database.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 1, retryDelayMs: 20 });
    const before = await countEvents(database.db);
    await database.db.transaction().execute(async (trx) => {
      await appendAuditEvents(trx, [readEvent({ subjectUserId: 'usr_crossed' })], clock.now());
      // The batch locks the `hub` head (sorted first), then waits for this transaction's user head.
      writer.record(readEvent({ subjectUserId: null }));
      writer.record(readEvent({ subjectUserId: 'usr_crossed' }));
      await vi.waitFor(async () => expect(await waiting(database.db)).toBeGreaterThan(0), { timeout: 10_000, interval: 5 });
      await appendAuditEvents(trx, [readEvent({ subjectUserId: null })], clock.now());
    });
    await writer.close();
    expect(await countEvents(database.db)).toBe(before + 4);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.error).not.toHaveBeenCalled();
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });

});
