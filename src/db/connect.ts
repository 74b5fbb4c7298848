import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { MEMORY_DATA_DIR, type Config } from '../config.js';
import { makePrivateFolder } from '../shared/private-folder.js';
import { pingDatabase } from './availability.js';
import { lockDataDir } from './data-dir-lock.js';
import type { Database } from './database.js';
import { listenOnPglite, serverListener, type Listen } from './notifications.js';
import { usePreparedStatements } from './prepared.js';
import { ANSWER_MARGIN_MS, answerWithin, CONNECT_TIMEOUT_MS, IDLE_IN_TRANSACTION_TIMEOUT_MS, serverSession } from './server-session.js';

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
        // Kysely closes its driver only once a statement has run through it: a handle closed
        // before its first would leave PGlite booting, on a folder whose lock is freed below. One
        // whose boot failed has nothing open, and its failure was its opener's to report.
        await pglite.waitReady.then(
          () => (pglite.closed ? undefined : pglite.close()),
          () => {},
        );
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
  refuseForeignFolder(dir, dataDir);
  if (existing && !existsSync(path.join(dir, 'PG_VERSION'))) {
    throw new Error(`no embedded database in HUB_DATA_DIR=${dataDir}: check the path (\`hub migrate up\` creates one)`);
  }
  // The owner's alone, as PostgreSQL keeps its own (0700): the database holds every customer's
  // data, and its folder the key file; made with the umask alone they were readable by every user
  // of the machine (022), or writable (000).
  makePrivateFolder(dir);
  return dir;
}

/**
 * PostgreSQL's rules for its data directory, from one look at the folder. Its owner is the process
 * that opens it: another user's hub cannot read the files and stopped with no more than PGlite's
 * `Aborted()`, or called the database missing; root's could, and left files of its own in the
 * folder, which the owner's hub then could not open. Its mode is its owner's alone, or readable by
 * its group (0750), never more: PGlite writes its files 0644 and its folders 0755 whatever the hub
 * asks, so this folder's mode is all that keeps the database from the machine's other users;
 * earlier releases made it with the umask's (0755 under the usual 022). Refused rather than
 * tightened, as PostgreSQL does: the data may have been read already, and whoever opened it
 * decides. Not checked where there are no uids (Windows).
 */
function refuseForeignFolder(dir: string, dataDir: string): void {
  const uid = process.geteuid?.();
  const folder = uid === undefined ? undefined : statSync(dir, { throwIfNoEntry: false });
  if (folder === undefined) return;
  if (folder.uid !== uid) {
    throw new Error(`the embedded database in HUB_DATA_DIR=${dataDir} belongs to uid ${folder.uid}, not to uid ${uid}, which runs this hub: run the hub as its owner`);
  }
  if ((folder.mode & 0o027) !== 0) {
    throw new Error(
      `the embedded database's folder ${dir} (in HUB_DATA_DIR=${dataDir}) is open to users other than its owner (mode 0${(folder.mode & 0o777).toString(8)}), as PostgreSQL refuses its data directory: make it 0700 (chmod 700 '${dir}')`,
    );
  }
}

/** Connections of the pool for the requests' token checks (`DatabaseHandle.checks`): each runs one statement of about 0.2 ms. */
const CHECK_POOL_SIZE = 4;

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
      // by default), and never while a statement written into a lost flow waits to be acknowledged.
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
