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
