import { describe, expect, it, vi } from 'vitest';
import { createDatabaseOutageLog } from '../../src/http/database-outage.js';
import type { Logger } from '../../src/shared/logger.js';

describe('the log of a database outage', () => {
  it('says nothing more once stopped, not even of a ping under way as it stopped', async () => {
    const logger = { info: vi.fn(), warn: vi.fn(), debug: vi.fn() };
    let pinged!: () => void;
    const pingStarted = new Promise<void>((resolve) => (pinged = resolve));
    let answer!: () => void;
    const log = createDatabaseOutageLog(logger as unknown as Logger, () => {
      pinged();
      return new Promise<void>((resolve) => (answer = resolve));
    });
    log.failed(new Error('connect ECONNREFUSED'), 'req-1');
    await pingStarted;
    // The hub closes while the ping waits; the database answers after.
    log.stop();
    answer();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(logger.info).not.toHaveBeenCalled();
  });
});

describe('the log of a database outage that lasts', () => {
  it('reminds at warn once a minute while pings fail, and says at info how long it lasted and how many requests it failed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const logger = { info: vi.fn(), warn: vi.fn(), debug: vi.fn() };
      let down = true;
      const log = createDatabaseOutageLog(logger as unknown as Logger, async () => {
        if (down) throw new Error('connect ECONNREFUSED');
      });
      log.failed(new Error('connect ECONNREFUSED'), 'req-1');
      log.failed(new Error('connect ECONNREFUSED'), 'req-2');
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(logger.debug).toHaveBeenCalledWith({ reqId: 'req-2', reason: 'connect ECONNREFUSED' }, 'database unreachable');

      await vi.advanceTimersByTimeAsync(59_000);
      expect(logger.warn).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(logger.warn).toHaveBeenCalledTimes(2);
      expect(logger.warn).toHaveBeenLastCalledWith('database still unreachable after 60 s; 2 requests answered 503 so far');
      await vi.advanceTimersByTimeAsync(59_000);
      expect(logger.warn).toHaveBeenCalledTimes(2);

      down = false;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(logger.info).toHaveBeenCalledWith('database answers again after 120 s; 2 requests were answered 503 meanwhile');
      expect(logger.warn).toHaveBeenCalledTimes(2);
      // Over: the next failure is a new outage, at warn again, counted from one.
      log.failed(new Error('connect ECONNREFUSED'), 'req-3');
      expect(logger.warn).toHaveBeenCalledTimes(3);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(logger.info).toHaveBeenLastCalledWith('database answers again after 1 s; 1 requests were answered 503 meanwhile');
      log.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
