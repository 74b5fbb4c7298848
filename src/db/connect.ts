import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { MEMORY_DATA_DIR, type Config } from '../config.js';
import { lockDataDir } from './data-dir-lock.js';
import type { Database } from './database.js';
import { listenOnPglite, serverListener, type Listen } from './notifications.js';
import { usePreparedStatements } from './prepared.js';

export type Db = Kysely<Database>;

/** An open database: the Kysely instance plus what the process needs to watch and close it. */
export interface DatabaseHandle {
  readonly db: Db;
  /**
   * The same database, for the token check every authenticated request runs (one prepared
   * statement, outside any transaction). On a server, connections of its own, where prepared
   * statements keep one generic plan (`plan_cache_mode`): PostgreSQL otherwise plans the check of
   * a client's or an agent's token anew at every run, since its parameters' arrays make the
   * generic plan look costlier (0.5 ms of planning for 0.1 ms of execution, measured). Only
   * there: a generic plan ignores the values of the parameters, which the hub's other statements
   * (an audience filter, a page's limit) need to be planned well. A check so never waits for
   * connections that exports or slow statements hold. On PGlite, `db` itself.
   */
  readonly checks: Db;
  readonly kind: 'pg' | 'pglite';
  /**
   * The pools of connections to a server by name (`requests`, `token_checks`), for their gauges;
   * empty on PGlite, one connection in process.
   */
  readonly pools: ReadonlyMap<string, PoolCounts>;
  /**
   * Resolves when the database answers within `timeoutMs` and takes writes (see `pingWritable`);
   * rejects otherwise. With `writable: false`, answering is enough: for what only reads.
   */
  ping(timeoutMs?: number, options?: { readonly writable?: boolean }): Promise<void>;
  /** LISTENs on a channel (see notifications.ts); listeners stop when the handle closes. */
  listen: Listen;
  close(): Promise<void>;
}

/** What a pool of connections to a server tells of itself, as `pg.Pool` does. */
export interface PoolCounts {
  /** Connections open, idle or in use. */
  readonly totalCount: number;
  readonly idleCount: number;
  /** Queries waiting for a connection. */
  readonly waitingCount: number;
}

/** A PostgreSQL server, and how the hub's pool of connections to it behaves. */
export interface ServerTarget {
  readonly url: string;
  readonly poolSize?: number;
  readonly idleInTransactionTimeoutMs?: number;
  /** The longest a statement may run before the server cancels it; unset, no limit. */
  readonly statementTimeoutMs?: number;
}

export type DatabaseTarget =
  | ServerTarget
  | {
      readonly dataDir: string;
      /** Refuse a directory that holds no database yet, rather than create one there. */
      readonly existing?: boolean;
    }
  | { readonly pglite: PGlite };

// OIDs of the types both drivers must return alike: int8 as a number (counts, sequence
// numbers; never above 2^53 here) and date as its 'YYYY-MM-DD' text, free of time zones.
const INT8 = 20;
const DATE = 1082;

const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return (value: string) => Number(value);
    if (oid === DATE) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export const pgliteParsers = { [INT8]: (value: string) => Number(value), [DATE]: (value: string) => value };

/**
 * The database the configuration names: a PostgreSQL server, or embedded PGlite. On a server,
 * `statementTimeoutMs` bounds every statement (PGlite runs one statement at a time, in process,
 * and has no such limit). With `existing`, an embedded one must exist already: a command that only
 * reads it (`hub migrate status`, `hub audit verify`) would otherwise create an empty one at a
 * mistyped path and report on that.
 */
export function openConfiguredDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>, options: { statementTimeoutMs?: number; existing?: boolean } = {}): DatabaseHandle {
  const { existing, ...serverOptions } = options;
  return config.databaseUrl ? openDatabase({ url: config.databaseUrl, ...serverOptions }) : openDatabase({ dataDir: config.dataDir, ...(existing && { existing }) });
}

/**
 * Opens a PostgreSQL server (`url`), a PGlite data directory, or an existing PGlite instance. A
 * data directory is this process's alone until the handle closes (see data-dir-lock.ts).
 * @throws DataDirInUseError when another process has the data directory open.
 */
export function openDatabase(target: DatabaseTarget): DatabaseHandle {
  if ('url' in target) return openServer(target);
  if ('pglite' in target) return openPglite(target.pglite);
  const dir = pgliteDataDir(target.dataDir, target.existing ?? false);
  const unlock = dir === undefined ? undefined : lockDataDir(dir, path.resolve(target.dataDir));
  return openPglite(new PGlite(dir, { parsers: pgliteParsers, relaxedDurability: false }), unlock);
}

function openPglite(pglite: PGlite, unlock?: () => void): DatabaseHandle {
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  const listeners = new Set<() => Promise<void>>();
  return {
    db,
    checks: db,
    kind: 'pglite',
    pools: new Map(),
    ping: (timeoutMs, options) => withTimeout(options?.writable === false ? pingAnswers(db) : pingWritable(db), timeoutMs),
    listen: (channel, handlers) => tracked(listeners, listenOnPglite(pglite, channel, handlers)),
    close: async () => {
      await Promise.all([...listeners].map((stop) => stop()));
      try {
        await db.destroy();
      } finally {
        unlock?.();
      }
    },
  };
}

function pgliteDataDir(dataDir: string, existing: boolean): string | undefined {
  if (dataDir === MEMORY_DATA_DIR && existing) {
    throw new Error(`no embedded database in HUB_DATA_DIR=${MEMORY_DATA_DIR}: it holds one only while the process that made it runs; set HUB_DATA_DIR to a folder, or DATABASE_URL`);
  }
  if (dataDir === MEMORY_DATA_DIR) return undefined;
  const dir = path.resolve(dataDir, 'pglite');
  if (existing && !existsSync(path.join(dir, 'PG_VERSION'))) {
    throw new Error(`no embedded database in HUB_DATA_DIR=${dataDir}: check the path (\`hub migrate up\` creates one)`);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** How long the server lets a session of the hub sit idle inside a transaction before ending it. */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

/** Connections of the pool for the requests' token checks (`DatabaseHandle.checks`): each runs one statement of about 0.2 ms. */
const CHECK_POOL_SIZE = 4;

function openServer({ url, poolSize = 10, idleInTransactionTimeoutMs = IDLE_IN_TRANSACTION_TIMEOUT_MS, statementTimeoutMs }: ServerTarget): DatabaseHandle {
  const openPool = (max: number, applicationName: string, options?: string) => {
    const pool = new pg.Pool({
      connectionString: url,
      max,
      types: pgTypes,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // Named apart, so an operator tells the pools apart in pg_stat_activity.
      application_name: applicationName,
      // An instance cut off mid-transaction (a partition, a stalled process) would hold its row
      // locks, and with them every other instance's change to those consents, until TCP gave up,
      // hours later: the server ends such a session after a minute idle in its transaction, and
      // keepalives find a vanished peer on connections the pool holds.
      idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
      // A statement that outruns any request waiting for it (a costly filter, a lock queue) is
      // cancelled by the server, not left holding a connection and a core after its caller left.
      ...(statementTimeoutMs !== undefined && { statement_timeout: statementTimeoutMs }),
      ...(options && { options }),
      keepAlive: true,
    });
    // A client whose server went away emits 'error': an idle one is dropped by the pool, and one in
    // use fails its query, which the caller sees. Unheard, the event would end the process.
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('error', () => {});
      usePreparedStatements(client);
    });
    return { pool, db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }) };
  };
  const requests = openPool(poolSize, 'identity-consent-hub');
  const tokenChecks = openPool(CHECK_POOL_SIZE, 'identity-consent-hub token checks', '-c plan_cache_mode=force_generic_plan');
  const { db } = requests;
  const checks = tokenChecks.db;
  const listeners = new Set<() => Promise<void>>();
  const listen = serverListener(url);
  return {
    db,
    checks,
    kind: 'pg',
    pools: new Map([
      ['requests', requests.pool],
      ['token_checks', tokenChecks.pool],
    ]),
    ping: (timeoutMs, options) => withTimeout(options?.writable === false ? pingAnswers(db) : pingWritable(db), timeoutMs),
    listen: (channel, handlers) => tracked(listeners, listen(channel, handlers)),
    close: async () => {
      await Promise.all([...listeners].map((stop) => stop()));
      await Promise.all([db.destroy(), checks.destroy()]);
    },
  };
}

/** Keeps a listener's stop function until it is called, so closing the handle stops it. */
function tracked(listeners: Set<() => Promise<void>>, stop: () => Promise<void>): () => Promise<void> {
  const once = async () => {
    listeners.delete(once);
    await stop();
  };
  listeners.add(once);
  return once;
}

/** Resolves when the database answers, whether or not it takes writes. */
async function pingAnswers(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}

/** SQLSTATE read_only_sql_transaction: a standby, or a server set read-only (a failover, a full disk). */
const READ_ONLY = '25006';

/** True for the refusal of a database that takes no writes (`READ_ONLY`), from a statement or a ping. Never throws. */
export function isReadOnlyRefusal(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === READ_ONLY;
}

/**
 * Resolves when the database answers and would take a write: one that answers but refuses every
 * write (a primary demoted in a failover, a managed server turned read-only as its storage fills)
 * cannot serve the hub, whose requests and audit trail write, and is reported as unavailable.
 */
async function pingWritable(db: Db): Promise<void> {
  const { rows } = await sql<{ readOnly: string }>`select current_setting('transaction_read_only') as "readOnly"`.execute(db);
  if (rows[0]?.readOnly === 'on') throw Object.assign(new Error('the database accepts no writes (read-only)'), { code: READ_ONLY });
}

function withTimeout<T>(promise: Promise<T>, timeoutMs = 2_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // ETIMEDOUT: a database that does not answer is unavailable (isDatabaseUnavailable), and worth waiting for.
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Pings the database until it answers, backing off from 250 ms to 5 s between tries, as long as
 * it is unavailable (isDatabaseUnavailable: not up yet, refusing, starting): a refusal that waiting
 * cannot change (an unknown database or role, a wrong password) fails at once. It waits for the
 * database to take writes too, unless `writable: false`: a command that only reads (`hub audit
 * verify`, `hub migrate status`, `hub keys list`) runs on a read-only standby as well.
 * @throws Error naming the last failure once `timeoutSeconds` have passed, or the refusal.
 */
export async function waitForDatabase(
  handle: DatabaseHandle,
  timeoutSeconds: number,
  onRetry: (error: Error, delayMs: number) => void = () => {},
  options: { readonly writable?: boolean } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1_000;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await handle.ping(5_000, options);
    } catch (error) {
      const reason = error instanceof Error ? error : new Error(String(error));
      if (!isDatabaseUnavailable(reason)) throw new Error(`database refused the connection: ${reason.message}`, { cause: reason });
      if (Date.now() + delay > deadline) {
        throw new Error(`database unreachable after ${timeoutSeconds} s: ${reason.message}`);
      }
      onRetry(reason, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Seconds a client is asked to wait (`Retry-After`) while the database cannot be reached. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * Node's socket errors, and PostgreSQL's: too many connections, shutting down, starting up, and a
 * database that refuses writes (read-only until a failover ends or storage is freed, or out of disk
 * space, `disk_full`, as a server that is not turned read-only when its storage fills up answers
 * every write that needs a new page, while it goes on answering reads).
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', '53100', '53300', '57P01', '57P02', '57P03', READ_ONLY]);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|connection error|not queryable|Connection ended/i;

/**
 * True for an error that says the database cannot be reached right now (refused, dropped or
 * timed-out connections, a server with no connection slot left, shutting down or starting, or
 * refusing writes, a full disk among them), as opposed to an error in the statement itself. Such a failure is worth a 503 and a retry, not a
 * 500. Never throws.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
    if (UNAVAILABLE_MESSAGES.test(cause.message)) return true;
  }
  return false;
}
