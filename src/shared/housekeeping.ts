import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/**
 * One kind of row the hub keeps no longer than it serves (GDPR Art. 5(1)(e)). `forget` deletes up
 * to `limit` rows past their retention at `now` in one statement that commits on its own,
 * skipping rows another transaction holds (`for update skip locked`), so it never waits on a
 * request nor on another instance's pass; it resolves to how many rows went (none: nothing more
 * is due, or what is due is being deleted elsewhere).
 */
export interface Retention {
  /** What the rows are, for the log. */
  readonly name: string;
  forget(now: Date, limit: number): Promise<number>;
}

export interface Housekeeping {
  /** Runs a pass every `everyMs` until `stop`. */
  start(): void;
  /** Stops the timer and waits for the pass under way, which ends after its current statement. */
  stop(): Promise<void>;
}

/**
 * How often each instance deletes what is past its retention, whatever traffic it gets: the
 * requests that add such rows also delete a few, but an instance nobody signs in to, exchanges a
 * token with or asks an approval of would otherwise keep them for ever.
 */
export const HOUSEKEEPING_EVERY_MS = 10 * 60_000;

/**
 * Statements one pass makes at most per retention: each is bounded by its batch and commits on its
 * own, so no lock is held long; a backlog (rows left from before an upgrade, a burst) is worked
 * off over the next passes.
 */
const STATEMENTS_PER_PASS = 20;

/** Rows one statement of a pass deletes at most: far within the statement timeout. */
export const ROWS_PER_STATEMENT = 500;

/**
 * The timer that deletes, on every instance, the rows of each `retentions` past their retention,
 * as the hub's clock tells. Several instances may run it on one database: each statement skips
 * the rows another holds. A failing pass is logged at warn, then at debug while passes go on
 * failing (a database outage), and at info once one works again.
 */
export function createHousekeeping(options: { clock: Clock; logger: Pick<Logger, 'debug' | 'info' | 'warn'>; retentions: readonly Retention[]; everyMs?: number }): Housekeeping {
  const { clock, logger, retentions } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let failing = false;

  async function pass(): Promise<void> {
    let failed = false;
    for (const retention of retentions) {
      try {
        for (let statement = 0; statement < STATEMENTS_PER_PASS && !stopped; statement++) {
          if ((await retention.forget(clock.now(), ROWS_PER_STATEMENT)) === 0) break;
        }
      } catch (error) {
        failed = true;
        if (failing) logger.debug({ err: error }, `housekeeping: deleting ${retention.name} past their retention failed`);
        else logger.warn({ err: error }, `housekeeping: deleting ${retention.name} past their retention failed; trying again at each pass (logged at debug until one works)`);
      }
    }
    if (failing && !failed) logger.info('housekeeping: deleting what is past its retention works again');
    failing = failed;
  }

  const tick = () => {
    if (stopped || running) return;
    running = pass().finally(() => (running = undefined));
  };

  return {
    start() {
      if (stopped || timer) return;
      timer = setInterval(tick, options.everyMs ?? HOUSEKEEPING_EVERY_MS).unref();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
