import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

/** The failures counted under `key` in the window that is current at `now`. */
export async function countFailures(db: Db, key: string, now: Date, windowSeconds: number): Promise<{ failures: number; windowStartedAt: Date } | undefined> {
  const row = await db
    .selectFrom('sign_in_throttle')
    .select(['failures', 'window_started_at'])
    .where('key', '=', key)
    .where('window_started_at', '>', new Date(now.getTime() - windowSeconds * 1_000))
    .executeTakeFirst();
  return row && { failures: row.failures, windowStartedAt: row.window_started_at };
}

/** Counts one failure under `key`, starting a new window when the last one has passed. */
export async function addFailure(db: Db, key: string, now: Date, windowSeconds: number): Promise<void> {
  const windowStart = new Date(now.getTime() - windowSeconds * 1_000);
  await db
    .insertInto('sign_in_throttle')
    .values({ key, failures: 1, window_started_at: now })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        failures: sql`case when sign_in_throttle.window_started_at > ${windowStart} then sign_in_throttle.failures + 1 else 1 end`,
        window_started_at: sql`case when sign_in_throttle.window_started_at > ${windowStart} then sign_in_throttle.window_started_at else ${now} end`,
      }),
    )
    .execute();
}

export async function clearFailures(db: Db, key: string): Promise<void> {
  await db.deleteFrom('sign_in_throttle').where('key', '=', key).execute();
}
