import { CLOCK_SKEW_MS } from '../shared/clock.js';
import type { SigningKeyRow } from './keys.queries.js';

// When the hub's keys sign, are published, and are accepted: what every instance, `hub keys` and
// the key sets' caching agree on.

/**
 * How stale an instance's keys may get: it rereads them twice as often, on a timer, so a rotation
 * by another instance or the CLI shows up whether or not requests come in.
 */
export const RELOAD_EVERY_MS = 60_000;

/**
 * How long a change of the keys may take to hold everywhere, as a clock elsewhere tells it: an
 * instance's next reread, and clock skew.
 */
const EVERYWHERE_WITHIN_MS = RELOAD_EVERY_MS + CLOCK_SKEW_MS;

/**
 * Until when a key retired at `retiredAt` is accepted for access tokens (what `hub keys rotate`
 * prints): the longest lifetime of anything it signed, plus the time an instance may go on signing
 * with it before it rereads the keys, plus clock skew.
 */
export function publishedUntil(retiredAt: Date, retentionSeconds: number): Date {
  return new Date(retiredAt.getTime() + acceptedForMs(retentionSeconds));
}

/** How long after its retirement a key is accepted (`publishedUntil`). */
export const acceptedForMs = (retentionSeconds: number) => retentionSeconds * 1_000 + EVERYWHERE_WITHIN_MS;

/**
 * The latest issue time of a token a key retired at `retiredAt` may have signed: an instance goes on
 * signing with it until it rereads the keys, and its clock may be ahead.
 */
export function signedUntil(retiredAt: Date): Date {
  return new Date(retiredAt.getTime() + EVERYWHERE_WITHIN_MS);
}

/** How long `/jwks.json` may be kept by whoever fetched it (its `Cache-Control: max-age`). */
export const JWKS_MAX_AGE_SECONDS = 300;

/**
 * How long `hub keys rotate` publishes a new key before it signs: past every `/jwks.json` fetched
 * before the rotation, every instance's next reread, and clock skew. A verifier that caches the
 * key set, or sits behind a cache, holds the key before any token or receipt names it.
 */
export const PUBLISHED_AHEAD_MS = JWKS_MAX_AGE_SECONDS * 1_000 + EVERYWHERE_WITHIN_MS;

/**
 * Of every key (`rows`, newest first), those that sign at `now` or will, oldest first: the first
 * signs now; each retirement still to come is when the next one takes over.
 */
export function signingSchedule<R extends Pick<SigningKeyRow, 'retiredAt'>>(rows: readonly R[], now: Date): R[] {
  return rows.filter((row) => row.retiredAt === null || row.retiredAt > now).reverse();
}
