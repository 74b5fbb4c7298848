import { LRUCache } from 'lru-cache';
import { addressNetwork } from '../shared/address.js';

interface Bucket {
  tokens: number;
  at: number;
  /** Refusals since the last request let through. */
  refused: number;
  /** Its client has authenticated from its address: see `markAuthenticated`. */
  authenticated: boolean;
}

export type ThrottleAnswer = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number; readonly firstRefusal: boolean };

/**
 * A token bucket per client and address for requests that present a client secret, bounding how
 * fast one address can guess a client's secret, and one per address alone for requests that
 * present none: those guess nothing, so naming a client's id without its secret spends only the
 * address's bucket and cannot lock that client out. Each bucket allows `rate` requests per second
 * on average and bursts of up to `rate`. In process, not in the database: it exists to keep a
 * flood from reaching the database at all, and a shared counter would cost the round trip it
 * saves. Each instance therefore allows `rate` on its own. The cache bounds the number of buckets,
 * not the length of their keys: callers pass client ids already bounded in length. Time is the
 * process's monotonic clock, not the injected one, so tests that freeze time are not throttled
 * forever. It also remembers which clients authenticated from an address (`markAuthenticated`), so
 * a caller can tell them from made-up ones before the database is asked. The bearer check keeps
 * one of its own, per address, for the tokens it refuses.
 */
export class ClientThrottle {
  readonly #rate: number;
  readonly #buckets = new LRUCache<string, Bucket>({ max: 50_000 });

  constructor(rate: number) {
    this.#rate = rate;
  }

  /**
   * Takes one request from the bucket of `clientId` at `address`, or of `address` alone when
   * `clientId` is undefined (the request presents no secret); an IPv6 address counts as its /64
   * (`addressNetwork`). Never throws.
   */
  take(clientId: string | undefined, address: string, nowMs = performance.now()): ThrottleAnswer {
    const key = bucketKey(clientId, address);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#rate, at: nowMs, refused: 0, authenticated: false };
    bucket.tokens = Math.min(this.#rate, bucket.tokens + ((nowMs - bucket.at) / 1_000) * this.#rate);
    bucket.at = nowMs;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.refused = 0;
      return { allowed: true };
    }
    bucket.refused += 1;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#rate)), firstRefusal: bucket.refused === 1 };
  }

  /**
   * Puts back the request `take` allowed for the same `clientId` and `address`, once it turned
   * out not to count: a caller that must be counted before its work (so concurrent requests cannot
   * all pass a check none of them has spent yet) but owes only for some outcomes. A bucket
   * forgotten meanwhile is full already. Never throws.
   */
  refund(clientId: string | undefined, address: string): void {
    const bucket = this.#buckets.get(bucketKey(clientId, address));
    if (bucket) bucket.tokens = Math.min(this.#rate, bucket.tokens + 1);
  }

  /**
   * Remembers that `clientId` authenticated from `address`, for as long as its bucket is kept: a
   * caller can then tell a client known there from a made-up one without asking the database.
   * Never throws.
   */
  markAuthenticated(clientId: string, address: string, nowMs = performance.now()): void {
    const key = bucketKey(clientId, address);
    const bucket = this.#buckets.get(key);
    if (bucket) bucket.authenticated = true;
    else this.#buckets.set(key, { tokens: this.#rate, at: nowMs, refused: 0, authenticated: true });
  }

  /** Whether `markAuthenticated` was called for `clientId` at `address` and its bucket is kept still. Never throws. */
  hasAuthenticated(clientId: string, address: string): boolean {
    return this.#buckets.peek(bucketKey(clientId, address))?.authenticated === true;
  }
}

function bucketKey(clientId: string | undefined, address: string): string {
  const network = addressNetwork(address);
  return clientId === undefined ? `address\u0000${network}` : `client\u0000${clientId}\u0000${network}`;
}
