import { Command } from 'commander';
import { waitForDatabase } from '../db/availability.js';
import { openConfiguredDatabase } from '../db/connect.js';
import { migrateToLatest, migrationStatus } from '../db/migrator.js';
import { loadConfigOrExit } from './config.js';

export function migrateCommand(): Command {
  const migrate = new Command('migrate').description('apply or inspect the database migrations');
  migrate
    .command('up')
    .description('apply every pending migration (the default: `hub migrate` alone)')
    .action(async () => {
      await withDatabase({ existing: false }, async (db) => {
        const applied = await migrateToLatest(db, { onLockWait: (message) => console.error(message) });
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
      });
    });
  migrate
    .command('status')
    .description('list the migrations and when each was applied')
    .action(async () => {
      await withDatabase({ existing: true, writable: false }, async (db) => {
        for (const m of await migrationStatus(db)) {
          const note = m.known ? '' : '  (not in this version of the hub: the database was migrated by a newer one)';
          console.log(`${m.executedAt ? m.executedAt.toISOString() : 'pending                 '}  ${m.name}${note}`);
        }
      });
    });
  return migrate;
}

/**
 * Runs `run` on the configured database; an embedded one must exist already when `existing`.
 * `writable: false` for what only reads, which a read-only standby serves too.
 */
async function withDatabase(options: { existing: boolean; writable?: boolean }, run: (db: ReturnType<typeof openConfiguredDatabase>['db']) => Promise<void>): Promise<void> {
  const config = loadConfigOrExit();
  const database = openConfiguredDatabase(config, { existing: options.existing });
  try {
    await waitForDatabase(database, config.dbConnectTimeout, undefined, { writable: options.writable });
    await run(database.db);
  } finally {
    await database.close();
  }
}
