import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import { LRUCache } from 'lru-cache';

interface Window {
  count: number;
  startedAt: number;
}

/** Callers counted at once, as @fastify/rate-limit's own store keeps; past it, the least recently counted are forgotten. */
const COUNTED_CALLERS = 5_000;

/**
 * @fastify/rate-limit's fixed windows (its in-memory store, as configured: no backoff, a window
 * not prolonged by requests past the limit), timed by the process's monotonic clock. The
 * library's own store times them by `Date.now()`: a wall clock stepped back (NTP, a virtual
 * machine resumed) made a window last as long as the step, so a caller well within the rate was
 * refused, with a `Retry-After` of that length, once the requests of the stretched window added
 * up to a minute's; one stepped forward ended windows early.
 */
export class MonotonicRateLimitStore implements FastifyRateLimitStore {
  readonly #windows = new LRUCache<string, Window>({ max: COUNTED_CALLERS });

  incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow?: number): void {
    const windowMs = timeWindow ?? 60_000;
    const now = performance.now();
    let window = this.#windows.get(key);
    if (!window || window.startedAt + windowMs <= now) {
      window = { count: 0, startedAt: now };
      this.#windows.set(key, window);
    }
    window.count += 1;
    callback(null, { current: window.count, ttl: windowMs - (now - window.startedAt) });
  }

  /** A store of its own, as the library's gives a route with limits of its own. */
  child(): FastifyRateLimitStore {
    return new MonotonicRateLimitStore();
  }
}
