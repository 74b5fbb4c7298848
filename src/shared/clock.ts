/** The time source of every service, injected so tests can freeze or move time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that stands still until moved; for tests. */
export function fixedClock(start: Date | string) {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    set: (to: Date | string) => void (current = new Date(to)),
    advance: (seconds: number) => void (current = new Date(current.getTime() + seconds * 1_000)),
  };
}
