import { sql } from 'kysely';
import { afterEach } from 'vitest';
import type { Db } from '../../src/db/connect.js';

/**
 * Forces a race into one interleaving on a real server: `holding` opens a transaction that takes
 * a lock the first contender needs midway and keeps it until released; `waiters` resolves once
 * that many sessions of the database wait on a lock, and `waiting` counts them now. Whatever a
 * failed test left held is released after each test, so that the next one and the hub's close do
 * not wait on it. Call in a describe.
 */
export function lockHolder(db: () => Db) {
  const held: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(held.splice(0).map((release) => release()));
  });

  /** Opens a transaction that takes `lock` and keeps it until `release`. */
  async function holding(lock: (tx: Db) => Promise<unknown>): Promise<{ release(): Promise<void> }> {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const ready = new Promise<void>((resolve) => (locked = resolve));
    const done = db().transaction().execute(async (tx) => {
      await lock(tx);
      locked();
      await gate;
    });
    await Promise.race([ready, done]);
    const released = () => (release(), done);
    held.push(released);
    return { release: released };
  }

  /** How many sessions of this database wait on a lock now. */
  async function waiting(): Promise<number> {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(db());
    return rows[0]!.n;
  }

  /** Resolves once `count` sessions of this database wait on a lock. */
  async function waiters(count: number): Promise<void> {
    for (let tries = 0; tries < 200; tries += 1) {
      if ((await waiting()) >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`fewer than ${count} sessions ever waited on a lock`);
  }

  return { holding, waiting, waiters };
}

/**
 * What `work` resolves to, or `what` once it has run 10 s: a statement that ought to skip a row
 * another transaction holds would otherwise wait as long as the holder, and the test hang rather
 * than fail. The bound is far past what a busy machine takes for the statement itself.
 */
export function unlessWaiting<T>(work: Promise<T>, what: string): Promise<T | string> {
  const waited = new Promise<string>((resolve) => setTimeout(() => resolve(what), 10_000).unref());
  return Promise.race([work, waited]);
}
