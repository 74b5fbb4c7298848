import { randomInt } from 'node:crypto';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { MEMORY_DATA_DIR } from '../config.js';
import { waitForDatabase } from '../db/availability.js';
import { openConfiguredDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { serverSession } from '../db/server-session.js';
import type { SeedCounts } from '../identity/seed.js';
import { loadConfigOrExit } from './config.js';

const MAX_USERS = 10_000_000;
const MAX_SEED = 2 ** 32 - 1;

interface SeedCommandOptions {
  readonly users: number;
  readonly seed?: number;
  readonly batchSize: number;
}

/**
 * `hub seed --users <n> [--seed <s>] [--batch-size <n>]`: fills the configured database with
 * synthetic customers for demos and benchmarks, migrating it first; never when NODE_ENV=production,
 * nor into an embedded database kept in memory, gone when the command exits.
 * A bad argument is one line on stderr and exit code 1; the counts and the rate go to stdout.
 */
export function seedCommand(): Command {
  return new Command('seed')
    .description('insert synthetic customers with orders and payment methods, for demos and benchmarks')
    .requiredOption('--users <n>', 'how many customers to insert (1 to 10,000,000)', integerIn(1, MAX_USERS, 'an integer from 1 to 10,000,000'))
    .option(
      '--seed <s>',
      'seed of the generator: the same seed gives the same rows (default: random, printed)',
      integerIn(0, MAX_SEED, `an integer from 0 to ${MAX_SEED}`),
    )
    .option('--batch-size <n>', 'customers per batch (one statement per table)', integerIn(1, 50_000, 'an integer from 1 to 50,000'), 5_000)
    .action((options: SeedCommandOptions) => runSeed(options));
}

function integerIn(min: number, max: number, what: string) {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`must be ${what}.`);
    return n;
  };
}

async function runSeed(options: SeedCommandOptions): Promise<void> {
  const seed = options.seed ?? randomInt(0, 2 ** 31);
  const config = loadConfigOrExit();
  if (config.nodeEnv === 'production') throw new Error('seed refuses to run when NODE_ENV=production: seeded customers share a published password');
  if (!config.databaseUrl && config.dataDir === MEMORY_DATA_DIR) {
    throw new Error(`seed refuses to run on HUB_DATA_DIR=${MEMORY_DATA_DIR} without DATABASE_URL: the rows would be gone when it exits`);
  }
  const database = openConfiguredDatabase(config);
  // On a server, batches go through COPY on a pool of their own.
  const pool = config.databaseUrl ? new pg.Pool({ ...serverSession(config.databaseUrl, undefined), max: 3, application_name: 'hub-seed' }) : undefined;
  // An idle connection that drops emits 'error'; the next statement reports it instead.
  pool?.on('error', () => {});
  try {
    await waitForDatabase(database, config.dbConnectTimeout);
    await migrateToLatest(database.db);
    const progress = createProgress(options.users);
    const started = performance.now();
    // Imported only here, so no other command loads the data generator (faker: ~35 MiB resident).
    const { seedUsers } = await import('../identity/seed.js');
    const counts = await seedUsers(database.db, { users: options.users, seed, batchSize: options.batchSize, onProgress: progress.update, pool })
      .catch((error: unknown) => {
        throw isUniqueViolation(error) ? new Error(`seed ${seed} is already loaded in this database; choose another --seed`) : error;
      })
      .finally(progress.stop);
    console.log(summary(counts, seed, (performance.now() - started) / 1_000));
  } finally {
    await pool?.end();
    await database.close();
  }
}

function summary(counts: SeedCounts, seed: number, seconds: number): string {
  const rate = Math.round(counts.users / seconds);
  const rows = `${counts.users} users, ${counts.orders} orders, ${counts.paymentMethods} payment methods`;
  return `seeded ${rows} (seed ${seed}) in ${seconds.toFixed(1)} s, ${rate} users/s`;
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

/** A bar on a terminal; elsewhere (a log, a pipe) one line per tenth, so logs stay readable. */
function createProgress(total: number): { update: (done: SeedCounts) => void; stop: () => void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: 'seeding [{bar}] {percentage}% | {value}/{total} users | {orders} orders | ETA {eta_formatted}' },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { orders: 0 });
    return { update: (done) => bar.update(done.users, { orders: done.orders }), stop: () => bar.stop() };
  }
  let reported = 0;
  return {
    update: (done) => {
      const tenth = Math.floor((done.users * 10) / total);
      if (tenth <= reported) return;
      reported = tenth;
      process.stderr.write(`seeded ${done.users}/${total} users (${tenth * 10}%)\n`);
    },
    stop: () => {},
  };
}
