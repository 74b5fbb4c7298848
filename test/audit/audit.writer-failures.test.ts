import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditWriter, type AuditLogger } from '../../src/audit/audit.writer.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import type { Db } from '../../src/db/connect.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { readEvent } from './audit-fixtures.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const clock = fixedClock('2025-04-10T08:00:00.000Z');

function fakeLogger() {
  return { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

/**
 * The database, except that the transactions `fail` picks (by their number, from 1) fail with its
 * error before they run, or end as the promise it gives does (one that hangs until the test ends it).
 */
function failingDb(db: Db, fail: (n: number) => Error | Promise<never> | undefined): { db: Db; transactions: () => number } {
  let n = 0;
  const proxy = new Proxy(db, {
    get(target, property) {
      if (property === 'transaction') {
        const error = fail(++n);
        if (error) return () => ({ execute: () => (error instanceof Error ? Promise.reject(error) : error) });
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: proxy, transactions: () => n };
}

const connectionLost = () => Object.assign(new Error('connection terminated unexpectedly'), { code: '08006' });
const lockNotAvailable = () => Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' });
const tooLong = () => Object.assign(new Error('value too long for type character varying(8)'), { code: '22001' });

describe('AuditWriter when writes fail', () => {
  it('gives up at close when the database is unreachable after one retry: each batch logged once, none halved, none tried again', async () => {
    const logger = fakeLogger();
    const down = failingDb(database.db, connectionLost);
    // Past `closeTimeoutMs` without a batch taken, close would give up on all of them at once:
    // longer than this test may run, so that a slow machine cannot make it do so.
    const writer = new AuditWriter(down.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, maxBatch: 64, retryDelayMs: 1, closeTimeoutMs: 60_000 });
    for (let i = 0; i < 150; i++) writer.record(readEvent({ subjectUserId: 'usr_down' }));
    await writer.close();
    expect(down.transactions()).toBe(2);
    expect(logger.error.mock.calls.map(([fields, message]) => [fields.events.length, message])).toEqual([
      [64, 'audit: 64 events could not be written and are lost'],
      [64, 'audit: 64 events could not be written and are lost'],
      [22, 'audit: 22 events could not be written and are lost'],
    ]);
  });

  it('tries nothing more once close gave up, not even the half of a batch that comes back from a wait longer than its own', async () => {
    const logger = fakeLogger();
    // The batch fails twice as a whole; its first half then finds the database unreachable, and
    // waits to try again for longer than close waits for the database.
    const flaky = failingDb(database.db, (n) => (n <= 2 ? tooLong() : connectionLost()));
    const writer = new AuditWriter(flaky.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, retryDelayMs: 300, closeTimeoutMs: 50 });
    for (let i = 0; i < 2; i++) writer.record(readEvent({ subjectUserId: 'usr_given_up' }));
    void writer.flush();
    await vi.waitFor(() => expect(logger.warn.mock.calls.map(([, message]) => message)).toContain('audit: database unreachable; holding 1 events until it answers'), { timeout: 5_000 });
    await writer.close();
    const tried = flaky.transactions();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(flaky.transactions()).toBe(tried);
    expect(writer.pending).toBe(0);
    expect(logger.error.mock.calls.map(([, message]) => message)).toEqual(['audit: 2 events could not be written and are lost']);
  });

  it('logs the events close gave up on once, though the write that held them fails only after', async () => {
    const logger = fakeLogger();
    let endWrite!: () => void;
    const hanging = new Promise<never>((_, reject) => (endWrite = () => reject(connectionLost())));
    // The first write hangs, as on a database partitioned away, until the test ends it.
    const partitioned = failingDb(database.db, (n) => (n === 1 ? hanging : connectionLost()));
    const writer = new AuditWriter(partitioned.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, retryDelayMs: 1, closeTimeoutMs: 50 });
    writer.record(readEvent({ subjectUserId: 'usr_partitioned' }));
    await writer.close();
    expect(logger.error.mock.calls.map(([, message]) => message)).toEqual(['audit: 1 events could not be written and are lost']);
    endWrite();
    await writer.flush();
    expect(partitioned.transactions()).toBe(2);
    expect(logger.error).toHaveBeenCalledTimes(1);
  });

  it('logs an outage once as it begins and once as it ends, however many tries it takes', async () => {
    const logger = fakeLogger();
    const flaky = failingDb(database.db, (n) => (n <= 4 ? connectionLost() : undefined));
    const writer = new AuditWriter(flaky.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, retryDelayMs: 1 });
    for (let i = 0; i < 3; i++) writer.record(readEvent({ subjectUserId: 'usr_outage' }));
    await writer.flush();
    writer.record(readEvent({ subjectUserId: 'usr_outage' }));
    await writer.flush();
    expect(flaky.transactions()).toBe(6);
    expect(logger.warn.mock.calls.map(([, message]) => message)).toEqual(['audit: database unreachable; holding 3 events until it answers']);
    expect(logger.info.mock.calls.map((call) => call.at(-1)).filter((message) => !/partitions/.test(message))).toEqual(['audit: the database answers again; writing the 3 events held']);
    expect(logger.error).not.toHaveBeenCalled();
    await writer.close();
  });

  it('keeps the order of a chain’s events when part of a halved batch is put back for a locked head', async () => {
    const logger = fakeLogger();
    // The first two attempts fail on the refused event; the first half then meets a locked head,
    // and a newer event is recorded meanwhile.
    const flaky = failingDb(database.db, (n) => {
      if (n !== 3) return undefined;
      writer.record(readEvent({ subjectUserId: 'usr_ordered', requestId: 'a4' }));
      return lockNotAvailable();
    });
    const writer = new AuditWriter(flaky.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, retryDelayMs: 1 });
    const refused = `usr_${randomBytes(8_000).toString('hex')}`;
    for (const requestId of ['a1', 'a2', 'a3']) writer.record(readEvent({ subjectUserId: 'usr_ordered', requestId }));
    writer.record(readEvent({ subjectUserId: refused }));
    await writer.flush();
    await writer.close();
    const chain = await database.db.selectFrom('audit_events').select('request_id').where('chain_key', '=', 'usr_ordered').orderBy('chain_seq').execute();
    expect(chain.map((row) => row.request_id)).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });

  it.each([
    ['the database is unreachable', connectionLost],
    ['a chain head is locked', lockNotAvailable],
  ])('keeps a chain’s events in the order recorded when a batch goes back to the buffer as %s, behind it those recorded meanwhile', async (_, error) => {
    const logger = fakeLogger();
    const subjectUserId = `usr_back_${error().code}`;
    const flaky = failingDb(database.db, (n) => {
      if (n !== 1) return undefined;
      writer.record(readEvent({ subjectUserId, requestId: 'b2' }));
      return error();
    });
    const writer = new AuditWriter(flaky.db, logger as unknown as AuditLogger, clock, { flushIntervalMs: 60_000, retryDelayMs: 1 });
    writer.record(readEvent({ subjectUserId, requestId: 'b1' }));
    await writer.flush();
    await writer.close();
    const chain = await database.db.selectFrom('audit_events').select('request_id').where('chain_key', '=', subjectUserId).orderBy('chain_seq').execute();
    expect(chain.map((row) => row.request_id)).toEqual(['b1', 'b2']);
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('says once that requests are turned away while its buffer hovers at its limit, and once that it drained', async () => {
    // Each write waits until the test lets it go.
    const waiting: (() => void)[] = [];
    const gated = new Proxy(database.db, {
      get(target, property) {
        if (property === 'transaction') {
          return () => ({ execute: async (run: (trx: Db) => Promise<unknown>) => (await new Promise<void>((go) => waiting.push(go)), target.transaction().execute(run)) });
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const letOneGo = async () => {
      await vi.waitFor(() => expect(waiting.length).toBeGreaterThan(0), { timeout: 10_000 });
      waiting.shift()!();
    };
    const logger = fakeLogger();
    const writer = new AuditWriter(gated, logger as unknown as AuditLogger, clock, { flushIntervalMs: 600_000, maxBatch: 2, maxBuffered: 8 });
    const recordSome = (n: number) => {
      for (let i = 0; i < n; i++) writer.record(readEvent({ subjectUserId: 'usr_hovering' }));
    };
    recordSome(10); // 2 being written, 8 waiting: full.
    expect(writer.backlogged).toBe(true);
    // Hovering at its limit: two batches go, the second ending with more than half the limit
    // still waiting, and as many come.
    for (let round = 0; round < 3; round++) {
      await letOneGo();
      await vi.waitFor(() => expect(writer.pending).toBe(6), { timeout: 10_000 });
      await letOneGo();
      await vi.waitFor(() => expect(writer.pending).toBe(4), { timeout: 10_000 });
      recordSome(4);
      expect(writer.backlogged).toBe(true);
    }
    const drained = writer.flush();
    while (writer.pending > 0 || waiting.length > 0) await letOneGo().catch(() => {});
    await drained;
    await writer.close();
    const said = (calls: unknown[][], pattern: RegExp) => calls.map((call) => call.at(-1)).filter((message) => typeof message === 'string' && pattern.test(message));
    expect(said(logger.warn.mock.calls, /requests are turned away/)).toHaveLength(1);
    expect(said(logger.info.mock.calls, /requests are no longer turned away/)).toHaveLength(1);
  });
});
