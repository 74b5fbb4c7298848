import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

/** The count under one key in its current window. */
export interface ThrottleCount {
  readonly failures: number;
  readonly windowStartedAt: Date;
}

/**
 * Counts one attempt under `key`, starting a new window when the last one has passed, and
 * answers the count with it. One upsert: it locks the row, so concurrent callers are counted one
 * after the other and each is answered its own count; the lock holds until the caller's
 * transaction ends.
 */
export async function addAttempt(db: Db, key: string, now: Date, windowSeconds: number): Promise<ThrottleCount> {
  const windowStart = new Date(now.getTime() - windowSeconds * 1_000);
  const row = await db
    .insertInto('sign_in_throttle')
    .values({ key, failures: 1, window_started_at: now })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        failures: sql`case when sign_in_throttle.window_started_at > ${windowStart} then sign_in_throttle.failures + 1 else 1 end`,
        window_started_at: sql`case when sign_in_throttle.window_started_at > ${windowStart} then sign_in_throttle.window_started_at else ${now} end`,
      }),
    )
    .returning(['failures', 'window_started_at'])
    .executeTakeFirstOrThrow();
  return { failures: row.failures, windowStartedAt: row.window_started_at };
}

/** Takes back one attempt counted under `key` in the window that started at `windowStartedAt`; a later window is left as it is. */
export async function removeAttempt(db: Db, key: string, windowStartedAt: Date): Promise<void> {
  await db
    .updateTable('sign_in_throttle')
    .set({ failures: sql`failures - 1` })
    .where('key', '=', key)
    .where('window_started_at', '=', windowStartedAt)
    .where('failures', '>', 0)
    .execute();
}

export async function clearFailures(db: Db, ...keys: string[]): Promise<void> {
  await db.deleteFrom('sign_in_throttle').where('key', 'in', keys).execute();
}

/** Deletes the counts whose key starts with one of `prefixes`. */
export async function clearFailuresFrom(db: Db, ...prefixes: string[]): Promise<void> {
  await db
    .deleteFrom('sign_in_throttle')
    .where((eb) => eb.or(prefixes.map((prefix) => eb(sql<string>`left(key, ${prefix.length})`, '=', prefix))))
    .execute();
}

/**
 * Deletes up to `limit` rows whose window started at or before `endedBy`: counts that limit
 * nothing any more. Rows a reservation in flight holds are skipped, so this never waits for one.
 * Resolves to how many went.
 */
export async function deleteEndedWindows(db: Db, endedBy: Date, limit: number): Promise<number> {
  const result = await sql`delete from sign_in_throttle where key in (
    select key from sign_in_throttle where window_started_at <= ${endedBy} limit ${limit} for update skip locked)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
