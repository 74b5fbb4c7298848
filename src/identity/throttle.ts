import type { Db } from '../db/connect.js';
import { RateLimitedError } from '../shared/errors.js';
import { addFailure, clearFailures, countFailures } from './throttle.queries.js';

/**
 * Failed sign-ins are counted per account and per client address in fixed windows kept in the
 * database, so every instance sees the same counts. Per account, few failures lock out
 * guessing at one password; per address, more, so a shared NAT is not locked out at once.
 */
export const THROTTLE = Object.freeze({ windowSeconds: 15 * 60, perAccount: 5, perAddress: 50 });

const accountKey = (email: string) => `account:${email.toLowerCase()}`;
const addressKey = (address: string) => `address:${address}`;

/** @throws RateLimitedError when either count has reached its limit. */
export async function assertNotThrottled(db: Db, email: string, address: string, now: Date): Promise<void> {
  const checks = [
    [accountKey(email), THROTTLE.perAccount],
    [addressKey(address), THROTTLE.perAddress],
  ] as const;
  for (const [key, limit] of checks) {
    const current = await countFailures(db, key, now, THROTTLE.windowSeconds);
    if (current && current.failures >= limit) {
      const retryAt = current.windowStartedAt.getTime() + THROTTLE.windowSeconds * 1_000;
      throw new RateLimitedError(Math.max(1, Math.ceil((retryAt - now.getTime()) / 1_000)));
    }
  }
}

export async function recordSignInFailure(db: Db, email: string, address: string, now: Date): Promise<void> {
  await addFailure(db, accountKey(email), now, THROTTLE.windowSeconds);
  await addFailure(db, addressKey(address), now, THROTTLE.windowSeconds);
}

/** A successful sign-in clears the account's count; the address's stays until its window ends. */
export async function recordSignInSuccess(db: Db, email: string): Promise<void> {
  await clearFailures(db, accountKey(email));
}
