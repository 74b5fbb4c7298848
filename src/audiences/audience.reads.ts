import pLimit, { type LimitFunction } from 'p-limit';

/**
 * Statements over the whole audience (a page, a count, an export's batches) that run at once on
 * one instance, whichever clients run them: four of the pool's ten connections at most. Each may
 * scan every customer for seconds, and one request asks for as many as its aliases (15 counts) or
 * its saved audiences' `members` (100) allow: unturned, they took every connection, and every
 * other caller's request waited for one until it failed.
 */
export const MAX_AUDIENCE_READS = 4;

/**
 * Of those, the most one client's statements hold: another client's wait for a turn at most
 * behind these, not behind everything the first one asked for. An export running alone still
 * reads two batches at once (see `EXPORT_BATCH`).
 */
export const MAX_AUDIENCE_READS_PER_CLIENT = 2;

/** Runs a statement of the client's when its turn comes. */
export type AudienceReads = (client: string) => <T>(read: () => Promise<T>) => Promise<T>;

/**
 * The turns of `max` audience statements at once, at most `perClient` of them one client's.
 * Make one per instance: the limit is its own.
 */
export function limitAudienceReads(max = MAX_AUDIENCE_READS, perClient = MAX_AUDIENCE_READS_PER_CLIENT): AudienceReads {
  const all = pLimit(max);
  // Each client's own turns, kept while a statement of theirs runs or waits.
  const clients = new Map<string, { readonly turns: LimitFunction; waiting: number }>();
  return (client) =>
    async <T>(read: () => Promise<T>): Promise<T> => {
      let own = clients.get(client);
      if (!own) clients.set(client, (own = { turns: pLimit(perClient), waiting: 0 }));
      own.waiting += 1;
      try {
        // A turn of the client's own first, so that what waits for the shared turns is at most
        // `perClient` statements of each client, taken in the order they came.
        return await own.turns(() => all(read));
      } finally {
        own.waiting -= 1;
        if (own.waiting === 0) clients.delete(client);
      }
    };
}
