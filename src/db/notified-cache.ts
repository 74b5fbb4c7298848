import { LRUCache } from 'lru-cache';
import type { Listen } from './notifications.js';

export interface NotifiedCacheOptions {
  /** Most entries kept; the least recently used go first. */
  readonly max: number;
  /** A backstop: an entry is reread at least this often even if a notification were missed. */
  readonly ttlMs: number;
}

/**
 * Rows that every instance reads often and changes rarely, kept in memory while, and only while,
 * a change made anywhere is sure to clear them:
 * - every change sends `NOTIFY <channel>` in its transaction, and the instance that made it also
 *   clears its own cache right after commit;
 * - every instance LISTENs (see notifications.ts) and clears everything on a notification;
 * - while not listening (starting, connection lost, or silent past its heartbeat: within about
 *   4 s) nothing is cached and every lookup reads;
 * - a read that started before a clear is not stored after it (the epoch check);
 * - `undefined` (nothing found) is never stored, so lookups of made-up keys fill nothing.
 * Another instance therefore stops using a changed entry as soon as the notification reaches it:
 * milliseconds, and at most the heartbeat's 4 s on a LISTEN connection that died silently.
 */
export class NotifiedCache<V extends {}> {
  readonly #entries: LRUCache<string, V>;
  #epoch = 0;
  #listening = false;

  /** Starts listening on `channel`; without `listen` the cache stays off and every lookup reads. */
  constructor(channel: string, listen: Listen | undefined, options: NotifiedCacheOptions) {
    this.#entries = new LRUCache<string, V>({ max: options.max, ttl: options.ttlMs });
    listen?.(channel, {
      onMessage: () => this.clear(),
      onState: (listening) => {
        this.clear();
        this.#listening = listening;
      },
    });
  }

  /** Drops every entry; call it after committing any change to what the cache holds. */
  clear(): void {
    this.#epoch++;
    this.#entries.clear();
  }

  /** The cached entry, or `load`'s answer (stored only if nothing changed meanwhile). */
  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    if (this.#listening) {
      const hit = this.#entries.get(key);
      if (hit) return hit;
    }
    const epoch = this.#epoch;
    const value = await load();
    if (value !== undefined && this.#listening && epoch === this.#epoch) this.#entries.set(key, value);
    return value;
  }
}
