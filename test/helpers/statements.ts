import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type CompiledQuery, type DatabaseConnection, type Dialect, type Driver } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type pg from 'pg';
import { inject } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, pgliteParsers, type DatabaseHandle, type Db } from '../../src/db/connect.js';
import type { Database } from '../../src/db/database.js';
import { createTestDatabase } from './database.js';
import { TEST_ENV } from './hub.js';

/**
 * What a hub sent its database while counting (`during`): every statement, a transaction's
 * `begin` and `commit` included, and the round trips they took. Statements sent while another was
 * already waiting for its turn or its answer (`Promise.all`, a DataLoader's batches of one tick)
 * share a round trip; each later statement of one connection (a transaction) takes one of its
 * own. Counted as the hub's code asks for connections, so alike on PGlite, which runs one
 * statement at a time, and on a server.
 */
export class StatementLog {
  readonly statements: string[] = [];
  roundTrips = 0;
  /** Connections asked for and not yet given back, across every pool of the hub. */
  #open = 0;
  #counting = false;

  /** Counts what runs inside `run`, from nothing; resolves to what `run` resolved to. */
  async during<T>(run: () => Promise<T>): Promise<T> {
    this.statements.length = 0;
    this.roundTrips = 0;
    this.#counting = true;
    try {
      return await run();
    } finally {
      this.#counting = false;
    }
  }

  /** The statements counted whose text holds `fragment`. */
  matching(fragment: string | RegExp): string[] {
    return this.statements.filter((text) => (typeof fragment === 'string' ? text.includes(fragment) : fragment.test(text)));
  }

  /** A connection asked for; resolves to whether it was asked for alone, when nothing else was waiting. */
  asked(): boolean {
    this.#open += 1;
    return this.#open === 1;
  }

  givenBack(): void {
    this.#open -= 1;
  }

  sent(text: string, newRoundTrip: boolean): void {
    if (!this.#counting) return;
    this.statements.push(text.replace(/\s+/g, ' ').trim());
    if (newRoundTrip) this.roundTrips += 1;
  }
}

/** `inner` with each statement its connections run counted into `log`. */
function countingDialect(inner: Dialect, log: StatementLog): Dialect {
  const originals = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const original = (connection: DatabaseConnection) => originals.get(connection) ?? connection;
  return {
    createAdapter: () => inner.createAdapter(),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createDriver(): Driver {
      const driver = inner.createDriver();
      return {
        init: () => driver.init(),
        async acquireConnection() {
          let alone = log.asked();
          const connection = await driver.acquireConnection().catch((error: unknown) => {
            log.givenBack();
            throw error;
          });
          // The first statement of a connection asked for while others waited goes with theirs;
          // each later one (a transaction's) waits for the one before.
          const sent = (query: CompiledQuery) => {
            log.sent(query.sql, alone);
            alone = true;
          };
          const fresh: DatabaseConnection = {
            executeQuery: (query) => (sent(query), connection.executeQuery(query)),
            streamQuery: (query, chunkSize) => (sent(query), connection.streamQuery(query, chunkSize)),
          };
          originals.set(fresh, connection);
          return fresh;
        },
        beginTransaction: (connection, settings) => driver.beginTransaction(connection, settings),
        commitTransaction: (connection) => driver.commitTransaction(connection),
        rollbackTransaction: (connection) => driver.rollbackTransaction(connection),
        async releaseConnection(connection) {
          log.givenBack();
          await driver.releaseConnection(original(connection));
        },
        destroy: () => driver.destroy(),
      };
    },
  };
}

/**
 * A hub as `startTestHub` makes one, whose statements to its database, and their round trips, are
 * counted into `log`. Reads are audited in batches written after the answer, off the request's
 * path: those are left out.
 */
export async function startCountedHub(log: StatementLog, env: Record<string, string> = {}): Promise<Hub> {
  const target = inject('testDatabase');
  let database: DatabaseHandle;
  let db: Db;
  let checks: Db;
  if (target.kind === 'pg') {
    database = await createTestDatabase();
    const pool = (name: string) => database.pools.get(name) as pg.Pool;
    db = new Kysely<Database>({ dialect: countingDialect(new PostgresDialect({ pool: pool('requests') }), log) });
    checks = new Kysely<Database>({ dialect: countingDialect(new PostgresDialect({ pool: pool('token_checks') }), log) });
  } else {
    const pglite = new PGlite({ parsers: pgliteParsers, loadDataDir: new Blob([readFileSync(target.dump)]) });
    database = openDatabase({ pglite });
    db = checks = new Kysely<Database>({ dialect: countingDialect(new PGliteDialect(pglite), log) });
  }
  return createHub(loadConfig({ ...TEST_ENV, ...env }), { database: { ...database, db, checks }, audit: { flushIntervalMs: 60_000 } });
}

/**
 * The plan (`explain (costs off)`) of a statement the hub sent, as its parameters `args`
 * (SQL text, such as `('CH', 6)`) make it: prepared as sent, so its `$n` placeholders stand as the
 * hub's own do.
 */
export function planOfStatement(db: Db, statement: string, args: string): Promise<string> {
  return db.connection().execute(async (connection) => {
    await sql`prepare planned as ${sql.raw(statement)}`.execute(connection);
    try {
      const { rows } = await sql<{ 'QUERY PLAN': string }>`explain (costs off) execute planned${sql.raw(args)}`.execute(connection);
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    } finally {
      await sql`deallocate planned`.execute(connection);
    }
  });
}
