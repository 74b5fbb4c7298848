/** The time source of every service, injected so tests can freeze or move time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * How far apart the clocks of the hub's instances may be. Whatever depends on the time across
 * instances allows for it: a token's `iat` may be this far ahead, a retired key is kept this much
 * longer, and a record that refuses a token is kept this long past the token's expiry, since an
 * instance whose clock is behind still takes the token as unexpired.
 */
export const CLOCK_SKEW_MS = 60_000;

/** When every instance's clock is past what `now` is on this one's: CLOCK_SKEW_MS before it. */
export const pastOnEveryClock = (now: Date): Date => new Date(now.getTime() - CLOCK_SKEW_MS);

/** A clock that stands still until moved; for tests. */
export function fixedClock(start: Date | string) {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    set: (to: Date | string) => void (current = new Date(to)),
    advance: (seconds: number) => void (current = new Date(current.getTime() + seconds * 1_000)),
  };
}
