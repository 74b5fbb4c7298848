import type { Logger } from '../shared/logger.js';

/** How often an outage's end is looked for, and how often a request-free check runs while it lasts. */
const PING_EVERY_MS = 1_000;

/** While an outage lasts, a line that it still does at most this often. */
const REMINDER_EVERY_MS = 60_000;

/** What requests report to the log of a database outage. */
export interface DatabaseOutageLog {
  /** A request answered 503 because the database could not be reached. Never throws. */
  failed(error: unknown, reqId: string | undefined): void;
  /** Stops looking for the outage's end. */
  stop(): void;
}

/**
 * The log of a database outage as requests meet it, in a few lines however many requests fail: a
 * hub under load would otherwise write one warning, stack and all, for every request it answers
 * 503, burying every other line. The first request that finds the database unreachable logs it
 * at `warn`, under its request id, with the reason; those after it log at `debug` while the outage
 * lasts, and a `warn` says every minute that it still does. The database is pinged every second
 * from the first failure on, and one `info` line says when it answers again with no request failed
 * since the last ping, after how long, and how many requests were answered 503 meanwhile.
 */
export function createDatabaseOutageLog(logger: Logger, ping: () => Promise<void>): DatabaseOutageLog {
  let since: number | undefined;
  let remindedAt = 0;
  let failures = 0;
  let failedSinceLook = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const seconds = (ms: number) => Math.round(ms / 1_000);
  const watch = () => {
    failedSinceLook = false;
    timer = setTimeout(() => {
      // A database that answers the ping may still fail requests (a full disk answers reads and
      // refuses writes): the outage is over only when none failed since the last look.
      void ping()
        .then(() => !failedSinceLook, () => false)
        .then((over) => {
          // A ping under way as the hub closed says nothing of the closed hub.
          if (stopped) return;
          if (over) {
            logger.info(`database answers again after ${seconds(performance.now() - since!)} s; ${failures} requests were answered 503 meanwhile`);
            since = undefined;
            return;
          }
          if (performance.now() - remindedAt >= REMINDER_EVERY_MS) {
            remindedAt = performance.now();
            logger.warn(`database still unreachable after ${seconds(remindedAt - since!)} s; ${failures} requests answered 503 so far`);
          }
          watch();
        });
    }, PING_EVERY_MS).unref();
  };

  return {
    failed(error, reqId) {
      const reason = error instanceof Error ? error.message : String(error);
      if (since !== undefined) {
        failures++;
        failedSinceLook = true;
        logger.debug({ reqId, reason }, 'database unreachable');
        return;
      }
      since = remindedAt = performance.now();
      failures = 1;
      logger.warn({ reqId, reason }, 'database unreachable: answering 503 with Retry-After until it answers; check the database and the network to it (further requests it fails are logged at debug)');
      if (!stopped) watch();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
