import pLimit, { type LimitFunction } from 'p-limit';
import { RateLimitedError } from '../shared/errors.js';

/**
 * Statements over the whole audience (a page, a count, an export's batches) that run at once on
 * one instance, whichever clients run them: four of the pool's ten connections at most. Each may
 * scan every customer for seconds, and one request asks for as many as its aliases (15 counts) or
 * its saved audiences' `members` (100) allow: unturned, they took every connection, and every
 * other caller's request waited for one until it failed.
 */
const MAX_AUDIENCE_READS = 4;

/**
 * Of those, the most one client's statements hold: another client's wait for a turn at most
 * behind these, not behind everything the first one asked for. An export running alone still
 * reads two batches at once (see `EXPORT_BATCH`).
 */
export const MAX_AUDIENCE_READS_PER_CLIENT = 2;

/** Seconds a statement that found no turn in time asks its caller to wait before asking again. */
const AUDIENCE_BUSY_RETRY_AFTER_SECONDS = 5;

/** The refusal of a statement that waited `turnWaitMs` for its turn: the instance is busy with audiences. */
export class AudienceReadsBusyError extends RateLimitedError {
  constructor() {
    super(AUDIENCE_BUSY_RETRY_AFTER_SECONDS, `Audience statements are busy on this instance; retry after ${AUDIENCE_BUSY_RETRY_AFTER_SECONDS} s`);
  }
}

/**
 * Runs a statement of the client's when its turn comes.
 * @throws AudienceReadsBusyError when the turn does not come in time (the statement never runs).
 */
export type AudienceReads = (client: string) => <T>(read: () => Promise<T>) => Promise<T>;

/**
 * The turns of `max` audience statements at once, at most `perClient` of them one client's, each
 * waited for at most `turnWaitMs` (the hub's `Config.statementTimeout`: as long as one statement
 * may run).
 * Unbounded, a request would wait behind every statement queued before it, every client's
 * requests included, for as long as they took, and run its own after its client had long gone: a
 * statement whose wait ends is taken out of the turns, never run. Make one per instance: the limit
 * is its own.
 */
export function limitAudienceReads({ turnWaitMs, max = MAX_AUDIENCE_READS, perClient = MAX_AUDIENCE_READS_PER_CLIENT }: { turnWaitMs: number; max?: number; perClient?: number }): AudienceReads {
  const all = pLimit(max);
  // Each client's own turns, kept while a statement of theirs runs or waits.
  const clients = new Map<string, { readonly turns: LimitFunction; waiting: number }>();
  return (client) =>
    async <T>(read: () => Promise<T>): Promise<T> => {
      let own = clients.get(client);
      if (!own) clients.set(client, (own = { turns: pLimit(perClient), waiting: 0 }));
      own.waiting += 1;
      let timer: NodeJS.Timeout | undefined;
      let state: 'waiting' | 'running' | 'given up' = 'waiting';
      // Ends the hold on the client's own turn of a statement given up while it waits for the
      // shared turns: what waits there for it, once reached, runs nothing.
      let passOwnTurn = () => {};
      try {
        // A turn of the client's own first, so that what waits for the shared turns is at most
        // `perClient` statements of each client, taken in the order they came. A statement given
        // up on passes its turns on at once.
        const turn = own.turns(
          () =>
            new Promise<T | undefined>((resolve, reject) => {
              if (state === 'given up') return resolve(undefined);
              passOwnTurn = () => resolve(undefined);
              all(async () => {
                if (state === 'given up') return undefined;
                state = 'running';
                clearTimeout(timer);
                return read();
              }).then(resolve, reject);
            }),
        ) as Promise<T>;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            if (state !== 'waiting') return;
            state = 'given up';
            passOwnTurn();
            reject(new AudienceReadsBusyError());
          }, turnWaitMs);
        });
        return await Promise.race([turn, late]);
      } finally {
        clearTimeout(timer);
        own.waiting -= 1;
        if (own.waiting === 0) clients.delete(client);
      }
    };
}
