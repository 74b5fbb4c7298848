/**
 * When each attempt of a delivery is made, in seconds after the previous one: the schedule Svix
 * documents and its users know. Attempt 1 goes at once, attempt 8 is the last; about 28 hours in all.
 */
export const RETRY_SCHEDULE_SECONDS = [0, 5, 5 * 60, 30 * 60, 2 * 3_600, 5 * 3_600, 10 * 3_600, 10 * 3_600] as const;

/** Attempts a delivery gets before it fails for good (a redelivery starts a new round). */
export const MAX_ATTEMPTS = RETRY_SCHEDULE_SECONDS.length;

/** Each wait is stretched or shrunk by up to this fraction, so retries after an outage spread out. */
const JITTER = 0.1;

/** Longest wait a receiver's `Retry-After` can ask for; past it the wait is cut to this. */
const MAX_RETRY_AFTER_SECONDS = 24 * 3_600;

/**
 * When to try again after failed attempt number `attempt` (1-based): the schedule's next wait
 * with jitter, or later when the receiver's `Retry-After` asks for more. Undefined when the
 * attempts are used up.
 * @param random a number in [0, 1), for the jitter; injected so tests can pin it.
 */
export function nextAttemptAt(attempt: number, now: Date, retryAfterSeconds: number | undefined, random: () => number = Math.random): Date | undefined {
  if (attempt >= MAX_ATTEMPTS) return undefined;
  const base = RETRY_SCHEDULE_SECONDS[attempt]! * 1_000;
  const jittered = Math.round(base * (1 + JITTER * (2 * random() - 1)));
  const asked = Math.min(retryAfterSeconds ?? 0, MAX_RETRY_AFTER_SECONDS) * 1_000;
  return new Date(now.getTime() + Math.max(jittered, asked));
}

/** The HTTP date forms (RFC 9110 §5.6.7): IMF-fixdate and RFC 850 end in GMT; asctime has its own shape. */
const HTTP_DATE = /^(?:[A-Za-z]{3,9}, [0-9A-Za-z -]+ \d\d:\d\d:\d\d GMT|[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4})$/;

/**
 * Seconds a `Retry-After` header asks to wait (RFC 9110 §10.2.3): a number of seconds, or an
 * HTTP date measured from `now`. Undefined for a missing or malformed header. Never throws.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text);
  if (text.length > 64 || !HTTP_DATE.test(text)) return undefined;
  // asctime carries no zone, and HTTP dates are always GMT.
  const date = Date.parse(text.endsWith('GMT') ? text : `${text} GMT`);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1_000));
}
