import { hash } from '@node-rs/argon2';
import { sql } from 'kysely';
import type pg from 'pg';
import { insertAudienceRows } from '../audiences/audience.bulk.js';
import { insertSeededConsents } from '../audiences/consent.seed.js';
import type { Db } from '../db/connect.js';
import { SEED_TIME_BASE, createCustomerSource, type SeededCustomer } from './seed.generator.js';
import { dropIndexesUntilLoaded, mayRebuildIndexes } from './seed.indexes.js';
import { copySeedWriter, kyselySeedWriter, type SeedTransaction, type SeedWriter } from './seed.writer.js';

export { SEED_TIME_BASE, createCustomerSource, type SeededCustomer } from './seed.generator.js';

/** The password of every seeded customer, so any of them can sign in on a demo or benchmark database. */
export const DEMO_PASSWORD = 'hub-demo-password';

export interface SeedOptions {
  /** How many customers to insert; a non-negative integer. */
  readonly users: number;
  /** With the same `users`, the same seed gives the same rows, ids included (not the hash's salt). */
  readonly seed: number;
  /** Customers per statement (and per transaction, when each batch has its own); 1,000 by default. */
  readonly batchSize?: number;
  /** Called after each batch written with the running totals. */
  readonly onProgress?: (done: SeedCounts) => void;
  /** The Argon2id hash of `DEMO_PASSWORD` to store; computed once per call when absent. */
  readonly passwordHash?: string;
  /** A pool on the same server database as `db`: batches then go through COPY, two at once. */
  readonly pool?: pg.Pool;
}

export interface SeedCounts {
  readonly users: number;
  readonly orders: number;
  readonly paymentMethods: number;
}

/**
 * Inserts `users` synthetic customers with their orders, payment methods and consents, then
 * vacuums and analyzes the tables it loaded.
 *
 * Deterministic: rows and ids come from one PRNG seeded with `seed` and from `SEED_TIME_BASE`, so
 * the same `seed` and `users` give the same rows. Emails are unique per seed and index
 * (`…@seed<seed>.example.com`): different seeds can share a database, while loading the same seed
 * twice fails on the primary key. While batches are written, the next one is generated.
 *
 * How, fastest first:
 * - into tables that hold no row yet, where the role owns them and may set
 *   `session_replication_role`: one transaction that loads every batch with the triggers off,
 *   writes the audience rows itself (computed from the rows it loads, row for row what the
 *   triggers would write), and builds the indexes after the rows; interrupted, it leaves nothing;
 * - elsewhere, one transaction per batch (an interrupted run leaves only whole customers), with
 *   the triggers off and the audience rows written likewise where the role may, else with the
 *   triggers on;
 * - inside a transaction `db` already is: there, with the triggers on, and no vacuum.
 */
export async function seedUsers(db: Db, options: SeedOptions): Promise<SeedCounts> {
  const { users, seed, batchSize = 1_000, onProgress } = options;
  if (!Number.isSafeInteger(users) || users < 0) throw new TypeError(`users must be a non-negative integer, got ${users}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TypeError(`batchSize must be a positive integer, got ${batchSize}`);
  const passwordHash = options.passwordHash ?? (await hashDemoPassword());
  const writer = options.pool ? copySeedWriter(options.pool) : kyselySeedWriter(db);
  const source = createCustomerSource(seed, users);
  const batches = (async function* () {
    for (let start = 0; start < users; start += batchSize) {
      const batch: SeededCustomer[] = [];
      for (let i = start; i < Math.min(start + batchSize, users); i++) {
        batch.push(source.next(i));
        // Generating is synchronous: a pause now and then lets the batches being written go out.
        if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
      }
      yield batch;
    }
  })();
  let done: SeedCounts = { users: 0, orders: 0, paymentMethods: 0 };
  const report = (added: SeedCounts) => {
    done = addCounts(done, added);
    onProgress?.(done);
  };
  if (db.isTransaction) {
    await pipeline(batches, 1, (batch) => writeCustomers(kyselySeedWriter(db), batch, passwordHash, false), report);
    return done;
  }
  const bulk = await maySkipTriggers(writer);
  const loaded = bulk && (await writer.transaction((tx) => loadIntoEmptyTables(tx, batches, passwordHash, report)));
  if (!loaded) {
    const write = (batch: SeedBatch) =>
      writer.transaction(async (tx) => {
        await applyBulkSettings(tx, bulk);
        return writeBatch(tx, batch, passwordHash, bulk);
      });
    await pipeline(batches, writer.concurrency, write, report);
  }
  await settleTables(db);
  return done;
}

type SeedBatch = readonly SeededCustomer[];

/** Customers generated between two turns of the event loop (about 10 ms of work). */
const YIELD_EVERY = 200;

/**
 * The fastest load, into tables that hold no row yet: one transaction that drops their indexes,
 * writes every batch, then builds the indexes again by sorting (see seed.indexes.ts). Interrupted,
 * it leaves the tables as they were. False, writing nothing, when a table already holds rows or
 * the role does not own them all.
 */
async function loadIntoEmptyTables(tx: SeedTransaction, batches: AsyncIterable<SeedBatch>, passwordHash: string, report: (added: SeedCounts) => void): Promise<boolean> {
  if (!(await mayRebuildIndexes(tx, LOADED_TABLES))) return false;
  await applyBulkSettings(tx, true);
  const rebuild = await dropIndexesUntilLoaded(tx, LOADED_TABLES);
  await pipeline(batches, 1, (batch) => writeBatch(tx, batch, passwordHash, true), report);
  await rebuild();
  return true;
}

/**
 * Writes batches as they are generated: the next batch is generated while up to `concurrency`
 * are written, and `report` hears of each one written. The first failure stops the generating;
 * once the writes in flight have ended, it is thrown. A write that fails while the next batch is
 * being generated is thus never lost, and the counts reported are never taken for the whole.
 */
async function pipeline(
  batches: AsyncIterable<SeedBatch>,
  concurrency: number,
  write: (batch: SeedBatch) => Promise<SeedCounts>,
  report: (added: SeedCounts) => void,
): Promise<void> {
  const writing = new Set<Promise<void>>();
  let failure: { readonly error: unknown } | undefined;
  try {
    for await (const batch of batches) {
      while (writing.size >= concurrency) await Promise.race(writing);
      if (failure) break;
      const written: Promise<void> = write(batch)
        .then(report)
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => writing.delete(written));
      writing.add(written);
    }
  } finally {
    await Promise.all(writing);
  }
  if (failure) throw failure.error;
}

/** The tables a seed loads. */
const LOADED_TABLES = ['users', 'orders', 'payment_methods', 'consents', 'consent_events', 'audience_members'] as const;

/**
 * Vacuums and analyzes what a seed loaded, as autovacuum would in time (where it runs at all):
 * the visibility map makes audience counts index-only scans, the statistics let the planner
 * pick the narrow indexes, and the hint bits get set now rather than by the first readers.
 */
async function settleTables(db: Db): Promise<void> {
  await sql`vacuum (analyze) ${sql.join(LOADED_TABLES.map((table) => sql.table(table)))}`.execute(db);
}

/** Writes customers in one transaction (or in `db` when it already is one), with the triggers on. */
export async function insertCustomers(db: Db, customers: readonly SeededCustomer[], passwordHash: string): Promise<SeedCounts> {
  return writeCustomers(kyselySeedWriter(db), customers, passwordHash, false);
}

/** The Argon2id hash of `DEMO_PASSWORD`; one per run, shared by every seeded customer. */
export function hashDemoPassword(): Promise<string> {
  return hash(DEMO_PASSWORD);
}

async function maySkipTriggers(writer: SeedWriter): Promise<boolean> {
  const [row] = await writer.transaction((tx) => tx.query<{ may: boolean }>(`select has_parameter_privilege('session_replication_role', 'SET') as may`));
  return row?.may === true;
}

/**
 * The settings of a seed's own transaction. A lost commit after a crash loses whole batches only,
 * which a seed can afford. In bulk mode (`replica`), the tables' triggers do not fire: the
 * audience triggers, whose rows `writeBatch` writes itself, and the foreign-key checks, which the
 * generator satisfies by construction.
 */
async function applyBulkSettings(tx: SeedTransaction, bulk: boolean): Promise<void> {
  await tx.query('set local synchronous_commit = off');
  if (bulk) await tx.query('set local session_replication_role = replica');
}

async function writeBatch(tx: SeedTransaction, customers: SeedBatch, passwordHash: string, bulk: boolean): Promise<SeedCounts> {
  const users = customers.map((c) => ({ ...c.user, password_hash: passwordHash }));
  const orders = customers.flatMap((c) => c.orders);
  const cards = customers.flatMap((c) => c.paymentMethods);
  await tx.append('users', users);
  await tx.append('orders', orders);
  await tx.append('payment_methods', cards);
  const consents = await insertSeededConsents(tx, users, SEED_TIME_BASE);
  if (bulk) await insertAudienceRows(tx, customers, consents);
  return { users: users.length, orders: orders.length, paymentMethods: cards.length };
}

/** Writes a batch in `writer`'s transaction (a caller's, for a Kysely transaction), triggers on. */
function writeCustomers(writer: SeedWriter, customers: SeedBatch, passwordHash: string, bulk: boolean): Promise<SeedCounts> {
  return writer.transaction((tx) => writeBatch(tx, customers, passwordHash, bulk));
}

function addCounts(a: SeedCounts, b: SeedCounts): SeedCounts {
  return { users: a.users + b.users, orders: a.orders + b.orders, paymentMethods: a.paymentMethods + b.paymentMethods };
}
