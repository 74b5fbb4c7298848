import { DEFAULT_MIGRATION_TABLE, Migrator, sql, type Migration, type MigrationResultSet } from 'kysely';
import { migrations } from '../../migrations/index.js';
import type { Db } from './connect.js';
import { LIFT_STATEMENT_TIMEOUT, QUERY_CANCELED, restoreStatementTimeout } from './server-session.js';

/**
 * How long a migration waits for a table's lock before it gives way, to try again a moment later.
 * A migration that alters a table waits for every transaction using the table to end, and while it
 * waits every statement on that table queues behind it: a long read (an export, a report) would
 * stall the running hubs' requests for as long as it lasts, not for this long.
 */
const LOCK_TIMEOUT_MS = 3_000;

/** How long migrations go on trying again for their locks before the upgrade gives up. */
const LOCK_RETRIES_FOR_MS = 10 * 60_000;

/** PostgreSQL's lock_not_available: a lock not granted within `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * The migrations of `migrations/`, listed statically so they run the same under tsx, vitest and a
 * bundle; each waits at most `lockTimeoutMs` for a lock (LOCK_TIMEOUT_MS), then fails and rolls back.
 */
export function createMigrator(db: Db, lockTimeoutMs = LOCK_TIMEOUT_MS): Migrator {
  const bounded = Object.fromEntries(
    Object.entries(migrations).map(([name, migration]): [string, Migration] => [
      name,
      {
        ...migration,
        // Kysely runs each migration in a transaction of its own on PostgreSQL: the setting ends with it.
        up: async (tx) => {
          await sql`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`.execute(tx);
          await migration.up(tx);
        },
      },
    ]),
  );
  return new Migrator({ db, provider: { getMigrations: async () => bounded } });
}

/** Thrown when the database holds migrations this version of the hub does not have; `code` is stable. */
export class NewerDatabaseError extends Error {
  override name = 'NewerDatabaseError';
  readonly code = 'DATABASE_NEWER_THAN_HUB';

  constructor(readonly unknown: readonly string[]) {
    super(`the database was migrated by a newer version of the hub (${unknown.join(', ')}); run that version, or a database this one migrated`);
  }
}

export interface MigrateOptions {
  /** Told, in a line for the log, that a migration gave way to a transaction holding a lock it needs, before it tries again. */
  readonly onLockWait?: (message: string) => void;
  /** LOCK_TIMEOUT_MS, and LOCK_RETRIES_FOR_MS: shorter in tests. */
  readonly lockTimeoutMs?: number;
  readonly lockRetriesForMs?: number;
}

/**
 * Applies every pending migration, on one connection with no statement timeout: rebuilding an
 * index of a large table may take longer than the hub lets any request's statement run
 * (HUB_STATEMENT_TIMEOUT). The connection gets its timeout back before it returns to the pool.
 * Each migration commits on its own: after a failure, the ones before it stay applied. One that
 * waited too long for a lock is rolled back and tried again, from 500 ms to 10 s later, for up to
 * ten minutes: the requests queued behind it meanwhile go through.
 * @throws NewerDatabaseError when the database has migrations this version does not know, which
 *   this version's queries may not fit; the first migration error, after rolling it back.
 */
export async function migrateToLatest(db: Db, options: MigrateOptions = {}): Promise<string[]> {
  return db.connection().execute(async (connection) => {
    const timeout = await liftStatementTimeout(connection);
    try {
      return await migrate(connection, options);
    } finally {
      await sql.raw(restoreStatementTimeout(timeout)).execute(connection);
    }
  });
}

/**
 * Lifts the session's statement timeout, answering the one it had, to be given back as it was: the
 * hub sets its timeout once connected (see serverSession), after the session's start, to which
 * `reset` would return. Both statements run under that timeout, and one it cancels all the same
 * (a millisecond on a loaded machine) is tried again, up to three times.
 */
async function liftStatementTimeout(connection: Db): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await sql<{ timeout: string }>`select current_setting('statement_timeout') as timeout`.execute(connection);
      await sql.raw(LIFT_STATEMENT_TIMEOUT).execute(connection);
      return rows[0]!.timeout;
    } catch (error) {
      if ((error as { code?: unknown }).code !== QUERY_CANCELED || attempt === 3) throw error;
    }
  }
}

async function migrate(db: Db, { onLockWait, lockTimeoutMs, lockRetriesForMs = LOCK_RETRIES_FOR_MS }: MigrateOptions): Promise<string[]> {
  await refuseEncoding(db);
  refuseNewer(await migrationStatus(db));
  const migrator = createMigrator(db, lockTimeoutMs);
  const applied: string[] = [];
  let waitedSince: number | undefined;
  let delay = 500;
  // One transaction per migration: the tables a migration locks (agents, users, consents) are
  // free again as it commits, not only once the last of an upgrade's migrations has run.
  for (;;) {
    const result: MigrationResultSet = await migrator.migrateUp();
    if (result.error) {
      const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? '(unknown)';
      const cause = result.error instanceof Error ? result.error.message : String(result.error);
      if ((result.error as { code?: string }).code === LOCK_NOT_AVAILABLE) {
        // The first wait ended as it failed.
        waitedSince ??= Date.now() - (lockTimeoutMs ?? LOCK_TIMEOUT_MS);
        if (Date.now() - waitedSince + delay <= lockRetriesForMs) {
          onLockWait?.(`migration ${failed} gave way to a transaction holding a lock it needs; trying again in ${delay} ms`);
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 10_000);
          continue;
        }
        throw new Error(`migration ${failed} failed: a transaction held a lock it needs for ${Math.round((Date.now() - waitedSince) / 1_000)} s (${cause}); find it in pg_stat_activity`);
      }
      throw new Error(`migration ${failed} failed: ${cause}`);
    }
    if (!result.results?.length) return applied;
    applied.push(...result.results.map((r) => r.migrationName));
    waitedSince = undefined;
    delay = 500;
  }
}

export interface MigrationStatus {
  readonly name: string;
  readonly executedAt: Date | undefined;
  /** False for a migration the database ran that this version of the hub does not have. */
  readonly known: boolean;
}

/** This version's migrations, then any the database ran that it does not know, each by name. */
export async function migrationStatus(db: Db): Promise<MigrationStatus[]> {
  const list = await createMigrator(db).getMigrations();
  const status: MigrationStatus[] = list.map((m) => ({ name: m.name, executedAt: m.executedAt, known: true }));
  const known = new Set(list.map((m) => m.name));
  for (const executed of await executedMigrations(db)) {
    if (!known.has(executed.name)) status.push({ name: executed.name, executedAt: new Date(executed.timestamp), known: false });
  }
  return status;
}

/** The rows of Kysely's migration table; none before the first migration made it. */
async function executedMigrations(db: Db): Promise<{ name: string; timestamp: string | Date }[]> {
  const { rows } = await sql<{ exists: boolean }>`select to_regclass(${DEFAULT_MIGRATION_TABLE}) is not null as exists`.execute(db);
  if (!rows[0]?.exists) return [];
  const executed = await sql<{ name: string; timestamp: string | Date }>`select name, timestamp from ${sql.table(DEFAULT_MIGRATION_TABLE)} order by name`.execute(db);
  return executed.rows;
}

/**
 * For commands that use the database as it is, without migrating it.
 * @throws Error when a migration is pending; NewerDatabaseError when the database is ahead of this version.
 */
export async function requireMigrated(db: Db): Promise<void> {
  const status = await migrationStatus(db);
  refuseNewer(status);
  if (status.some((m) => !m.executedAt)) throw new Error('the database has pending migrations: run `hub migrate up` first');
}

/**
 * Refuses a database whose encoding is not UTF-8, before anything is written to it: customers'
 * names and addresses may hold any character, and a LATIN1 database refuses those outside its
 * repertoire (an emoji, a name in Chinese) as the request that writes them runs, while SQL_ASCII
 * stores bytes unchecked and counts them as characters (`length`, the tables' checks).
 * @throws Error naming the database's encoding.
 */
async function refuseEncoding(db: Db): Promise<void> {
  const { rows } = await sql<{ encoding: string }>`select current_setting('server_encoding') as encoding`.execute(db);
  const encoding = rows[0]!.encoding;
  if (encoding !== 'UTF8') {
    throw new Error(
      `the database's encoding is ${encoding}, which cannot hold every character of customers' data; create one with \`create database … template template0 encoding 'UTF8'\` and restore into it`,
    );
  }
}

/** @throws NewerDatabaseError when the database ran migrations this version does not have. */
function refuseNewer(status: readonly MigrationStatus[]): void {
  const unknown = status.filter((m) => !m.known).map((m) => m.name);
  if (unknown.length > 0) throw new NewerDatabaseError(unknown);
}
