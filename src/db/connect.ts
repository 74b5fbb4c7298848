import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { MEMORY_DATA_DIR, type Config } from '../config.js';
import { pingDatabase } from './availability.js';
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
   * Resolves when the database answers within `timeoutMs` and takes writes (see `pingWritable`
   * in availability.ts); rejects otherwise. With `writable: false`, answering is enough: for what
   * only reads.
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
  /** The longest a statement may run before the server cancels it; unset, no limit, whatever the database or role sets. */
  readonly statementTimeoutMs?: number;
  /** How much longer than `statementTimeoutMs` a statement's answer may take before its connection is taken for lost (ANSWER_MARGIN_MS). */
  readonly answerMarginMs?: number;
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
  // One options object: PGlite reads a second argument only after a data folder's path, and
  // would drop the parsers of a database kept in memory (no folder).
  return openPglite(new PGlite({ dataDir: dir, parsers: pgliteParsers, relaxedDurability: false }), unlock);
}

function openPglite(pglite: PGlite, unlock?: () => void): DatabaseHandle {
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  const listeners = new Set<() => Promise<void>>();
  return {
    db,
    checks: db,
    kind: 'pglite',
    pools: new Map(),
    ping: (timeoutMs, options) => pingDatabase(db, timeoutMs, options),
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

/** Where in HUB_DATA_DIR the embedded database's own files are (the lock and key file sit beside it). */
export function embeddedDatabaseFolder(dataDir: string): string {
  return path.resolve(dataDir, 'pglite');
}

function pgliteDataDir(dataDir: string, existing: boolean): string | undefined {
  if (dataDir === MEMORY_DATA_DIR && existing) {
    throw new Error(`no embedded database in HUB_DATA_DIR=${MEMORY_DATA_DIR}: it holds one only while the process that made it runs; set HUB_DATA_DIR to a folder, or DATABASE_URL`);
  }
  if (dataDir === MEMORY_DATA_DIR) return undefined;
  const dir = embeddedDatabaseFolder(dataDir);
  if (existing && !existsSync(path.join(dir, 'PG_VERSION'))) {
    throw new Error(`no embedded database in HUB_DATA_DIR=${dataDir}: check the path (\`hub migrate up\` creates one)`);
  }
  // The owner's alone, as PostgreSQL keeps its own (0700): the database holds every customer's
  // data, and its folder the key file; made with the umask alone they were readable by every user
  // of the machine (022), or writable (000).
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** How long the server lets a session of the hub sit idle inside a transaction before ending it. */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

/**
 * How much longer than the statement timeout the hub waits for a statement's answer, the server's
 * cancellation of it at the latest, before it takes the connection for lost: a round trip and the
 * cancellation's own time, many times over.
 */
const ANSWER_MARGIN_MS = 5_000;

/**
 * The statement that lifts a pooled session's statement timeout (see migrator.ts), and the one
 * that gives back `value` (as `current_setting` read it before): a connection waits for the
 * answers between them without a deadline.
 */
export const LIFT_STATEMENT_TIMEOUT = 'set statement_timeout = 0';
export const restoreStatementTimeout = (value: string) => `set statement_timeout = '${value.replaceAll("'", "''")}'`;

/**
 * Gives up a pooled connection that has not answered a statement within `deadlineMs`, failing that
 * statement as the database being unreachable (ETIMEDOUT): the server answers every statement by
 * then, if only with its cancellation, so a connection still silent was lost on the way (a flow a
 * NAT, a load balancer or a failover forgot drops what is written on it without a reset, and
 * TCP's retransmission would wait some 15 minutes), and the pool opens a new one in its place.
 */
function answerWithin(client: pg.PoolClient, deadlineMs: number): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  let bounded = true;
  const watched = (text: unknown, ...rest: unknown[]) => {
    if (typeof text === 'string' && text.startsWith('set statement_timeout = ')) bounded = text !== LIFT_STATEMENT_TIMEOUT;
    const answer = query(text, ...rest);
    if (!bounded || !(answer instanceof Promise)) return answer;
    const timer = setTimeout(() => {
      client.connection.stream.destroy(Object.assign(new Error(`no answer from the database within ${deadlineMs} ms: connection lost`), { code: 'ETIMEDOUT' }));
    }, deadlineMs);
    return answer.finally(() => clearTimeout(timer));
  };
  (client as unknown as { query: typeof watched }).query = watched;
}

/** Connections of the pool for the requests' token checks (`DatabaseHandle.checks`): each runs one statement of about 0.2 ms. */
const CHECK_POOL_SIZE = 4;

/** How long a pool's new connection may take to open and take the session's settings. */
const CONNECT_TIMEOUT_MS = 5_000;

/** PostgreSQL's `query_canceled`: a statement past its timeout. */
export const QUERY_CANCELED = '57014';

/**
 * Settings the hub's sessions need whatever the database or role makes their default (`alter
 * database … set …`): pg reads times and dates only in ISO's style, and takes anything else for
 * null (`03.12.2026 17:27:00 UTC` under `DateStyle = German`); and the hub's transactions take
 * their locks, then read what the holder before them committed, as only READ COMMITTED lets them
 * (under REPEATABLE READ or SERIALIZABLE a change that waited for a lock fails with 40001 instead).
 */
const SESSION_SETTINGS: readonly (readonly [string, string])[] = [
  ['DateStyle', 'ISO'],
  ['default_transaction_isolation', 'read committed'],
];

/**
 * What a pool of the hub connects with: `url` (with any `options` it gives, `-c TimeZone=…`), and,
 * once connected and before the pool hands the connection out, SESSION_SETTINGS, the statement
 * timeout (unbounded, it is so whatever the database sets), the idle-in-transaction timeout and
 * `settings`, set in one round trip (one statement each), so they prevail over the URL's. Set,
 * not sent as startup parameters: a pooler in session mode (PgBouncer) refuses a connection whose
 * startup message carries one it does not know (`options`, `idle_in_transaction_session_timeout`),
 * and one told to ignore them drops them, leaving the session unbounded. The statement timeout is
 * set first, so that a database's own tiny one bounds no more than that first statement; one it
 * cancels all the same (a millisecond on a loaded machine) is sent again, up to three times.
 */
export function serverSession(
  url: string,
  statementTimeoutMs: number | undefined,
  settings: readonly (readonly [string, string])[] = [],
  idleInTransactionTimeoutMs = IDLE_IN_TRANSACTION_TIMEOUT_MS,
): { connectionString: string; onConnect: (client: pg.ClientBase) => Promise<void> } {
  const all = [
    ['statement_timeout', String(statementTimeoutMs ?? 0)],
    ['idle_in_transaction_session_timeout', String(idleInTransactionTimeoutMs)],
    ...SESSION_SETTINGS,
    ...settings,
  ];
  const text = all.map(([name, value]) => `set ${name} = '${value}'`).join('; ');
  const onConnect = async (client: pg.ClientBase) => {
    // Part of the opening, bounded as the startup is: the pool has stopped timing the connection
    // by then, and one lost before it answered (a flow dropped without a reset) would hold its
    // slot, and every statement waiting for one, for as long as TCP kept retrying.
    const timer = setTimeout(() => {
      (client as pg.Client).connection.stream.destroy(Object.assign(new Error(`no answer from the database to the session's settings within ${CONNECT_TIMEOUT_MS} ms: connection lost`), { code: 'ETIMEDOUT' }));
    }, CONNECT_TIMEOUT_MS);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return void (await client.query(text));
        } catch (error) {
          if ((error as { code?: unknown }).code !== QUERY_CANCELED || attempt === 3) throw error;
        }
      }
    } finally {
      clearTimeout(timer);
    }
  };
  return { connectionString: url, onConnect };
}

function openServer({ url, poolSize = 10, idleInTransactionTimeoutMs = IDLE_IN_TRANSACTION_TIMEOUT_MS, statementTimeoutMs, answerMarginMs = ANSWER_MARGIN_MS }: ServerTarget): DatabaseHandle {
  const openPool = (max: number, applicationName: string, settings?: readonly (readonly [string, string])[]) => {
    const pool = new pg.Pool({
      // A statement that outruns any request waiting for it (a costly filter, a lock queue) is
      // cancelled by the server, not left holding a connection and a core after its caller left.
      ...serverSession(url, statementTimeoutMs, settings, idleInTransactionTimeoutMs),
      max,
      types: pgTypes,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      // Named apart, so an operator tells the pools apart in pg_stat_activity.
      application_name: applicationName,
      // An instance cut off mid-transaction (a partition, a stalled process) would hold its row
      // locks, and with them every other instance's change to those consents, until TCP gave up,
      // hours later: the server ends such a session after a minute idle in its transaction (see
      // serverSession). On the hub's side, a connection that stops answering is given up
      // (answerWithin), and one left idle is closed after 30 s, before a NAT or load balancer
      // forgets its flow (minutes): keepalives begin only after the system's idle time (two hours
      // by default) and never while an answer is awaited.
      keepAlive: true,
    });
    // A client whose server went away emits 'error': an idle one is dropped by the pool, and one in
    // use fails its query, which the caller sees. Unheard, the event would end the process.
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('error', () => {});
      usePreparedStatements(client);
      if (statementTimeoutMs !== undefined) answerWithin(client, statementTimeoutMs + answerMarginMs);
    });
    return { pool, db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }) };
  };
  const requests = openPool(poolSize, 'identity-consent-hub');
  const tokenChecks = openPool(CHECK_POOL_SIZE, 'identity-consent-hub token checks', [['plan_cache_mode', 'force_generic_plan']]);
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
    ping: (timeoutMs, options) => pingDatabase(db, timeoutMs, options),
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
