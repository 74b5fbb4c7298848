import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../../src/shared/clock.js';
import { createHousekeeping, ROWS_PER_STATEMENT, type Retention } from '../../src/shared/housekeeping.js';

// The timer alone, with retentions that only count: what each pass asks of them, and when. The
// deletions themselves are tested with their tables (approvals, webhook messages, tokens, counts).

const clock = fixedClock('2031-04-01T09:00:00.000Z');
const logger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn() });

/** A retention that answers each statement with the next of `deleted` (then its last), noting what it was asked. */
function counting(name: string, deleted: readonly number[]) {
  const calls: { now: Date; limit: number }[] = [];
  const retention: Retention = {
    name,
    forget: async (now, limit) => {
      calls.push({ now, limit });
      return deleted[Math.min(calls.length - 1, deleted.length - 1)]!;
    },
  };
  return { retention, calls };
}

/** A promise and what settles it, for a statement that takes as long as the test says. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the housekeeping', () => {
  it('runs a pass every 10 minutes by default, on the hub’s clock', async () => {
    const { retention, calls } = counting('rows', [0]);
    const housekeeping = createHousekeeping({ clock, logger: logger(), retentions: [retention] });
    housekeeping.start();
    // The README promises every 10 minutes: what is past its retention is gone at most that late.
    const TEN_MINUTES = 10 * 60_000;
    await vi.advanceTimersByTimeAsync(TEN_MINUTES - 1);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([{ now: clock.now(), limit: ROWS_PER_STATEMENT }]);
    await vi.advanceTimersByTimeAsync(TEN_MINUTES);
    expect(calls).toHaveLength(2);
    await housekeeping.stop();
  });

  it('deletes a backlog in up to 20 statements a pass, and stops at the first that deletes nothing', async () => {
    const backlog = counting('a backlog', [ROWS_PER_STATEMENT]);
    const few = counting('a few rows', [ROWS_PER_STATEMENT, 120, 0, ROWS_PER_STATEMENT]);
    const housekeeping = createHousekeeping({ clock, logger: logger(), retentions: [backlog.retention, few.retention], everyMs: 1_000 });
    housekeeping.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(backlog.calls).toHaveLength(20);
    expect(backlog.calls.every((call) => call.limit === ROWS_PER_STATEMENT)).toBe(true);
    // A statement that deleted fewer than it may is followed by another: rows another instance
    // held were skipped, not missing.
    expect(few.calls).toHaveLength(3);
    await housekeeping.stop();
  });

  it('goes on to the other retentions when one fails, logged at warn, then at debug while it fails, and at info once it works again', async () => {
    let failures = 2;
    const failing: Retention = {
      name: 'broken rows',
      forget: async () => {
        if (failures-- > 0) throw new Error('relation does not exist');
        return 0;
      },
    };
    const other = counting('other rows', [0]);
    const log = logger();
    const housekeeping = createHousekeeping({ clock, logger: log, retentions: [failing, other.retention], everyMs: 1_000 });
    housekeeping.start();

    await vi.advanceTimersByTimeAsync(1_000);
    expect(other.calls).toHaveLength(1);
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(log.warn.mock.calls[0]![1]).toContain('broken rows');

    await vi.advanceTimersByTimeAsync(1_000);
    expect(other.calls).toHaveLength(2);
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(log.debug).toHaveBeenCalledTimes(1);
    expect(log.info).not.toHaveBeenCalled();

    await vi.advanceTimersByTimeAsync(1_000);
    expect(log.info).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect([log.warn, log.debug, log.info].map((fn) => fn.mock.calls.length)).toEqual([1, 1, 1]);
    await housekeeping.stop();
  });

  it('never starts a pass while the one before is under way', async () => {
    const slow = deferred<number>();
    let calls = 0;
    const retention: Retention = { name: 'rows', forget: () => (++calls === 1 ? slow.promise : Promise.resolve(0)) };
    const housekeeping = createHousekeeping({ clock, logger: logger(), retentions: [retention], everyMs: 1_000 });
    housekeeping.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(1);
    slow.resolve(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
    await housekeeping.stop();
  });

  it('stops after the statement under way, and its stop waits for it', async () => {
    const slow = deferred<number>();
    let calls = 0;
    const retention: Retention = { name: 'rows', forget: () => (++calls === 1 ? slow.promise : Promise.resolve(ROWS_PER_STATEMENT)) };
    const housekeeping = createHousekeeping({ clock, logger: logger(), retentions: [retention], everyMs: 1_000 });
    housekeeping.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(1);

    let stopped = false;
    const stopping = housekeeping.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    slow.resolve(ROWS_PER_STATEMENT);
    await stopping;
    // A backlog: the pass would have gone on, but makes no statement after the stop.
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(1);
  });
});
