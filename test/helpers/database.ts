import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { describe, inject, it } from 'vitest';
import { embeddedDatabaseFolder, openDatabase, pgliteParsers, type DatabaseHandle } from '../../src/db/connect.js';
import { admin, withDatabase } from './global-setup.js';

export interface TestDatabase extends DatabaseHandle {
  /** The server URL of this database; undefined on PGlite. */
  readonly url: string | undefined;
}

/** A fresh, migrated database of its own, copied from the run's template. Close it when done. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const target = inject('testDatabase');
  if (target.kind === 'pg') {
    const name = `hub_test_${randomBytes(6).toString('hex')}`;
    await admin(target.serverUrl, `create database ${name} template ${target.template}`);
    const url = withDatabase(target.serverUrl, name);
    const handle = openDatabase({ url });
    return {
      ...handle,
      url,
      close: async () => {
        await handle.close();
        await admin(target.serverUrl, `drop database if exists ${name} with (force)`);
      },
    };
  }
  const pglite = new PGlite({ parsers: pgliteParsers, loadDataDir: pgliteTemplate(target.dump) });
  return { ...openDatabase({ pglite }), url: undefined };
}

let template: Blob | undefined;

/** The run's PGlite template, read once per worker: a Blob is immutable, and each copy reads it anew. */
function pgliteTemplate(dump: string): Blob {
  template ??= new Blob([readFileSync(dump)]);
  return template;
}

/** Runs `body` on a fresh database of its own, closed after whatever `body` does: for a test that needs one to itself. */
export async function withTestDatabase<T>(body: (database: TestDatabase) => Promise<T>): Promise<T> {
  const database = await createTestDatabase();
  try {
    return await body(database);
  } finally {
    await database.close();
  }
}

/** The PostgreSQL server the run uses, if any: for tests that need a real server process. */
export function testServerUrl(): string | undefined {
  const target = inject('testDatabase');
  return target.kind === 'pg' ? target.serverUrl : undefined;
}

/**
 * `describe` for what only the embedded database has: its data folder on disk, and `hub` commands
 * on one. Those behave the same in either pass, so they run in the embedded pass only; in the
 * server pass the body is not even collected, so nothing it makes as it is collected (a
 * temporary folder) is made for nothing.
 */
export function describeEmbedded(name: string, body: () => void): void {
  if (testServerUrl() === undefined) describe(name, body);
  else describe.skip(name, () => it.skip('runs in the embedded pass', () => {}));
}

/** A database for a hub run as a child process (`bin/hub.js`). */
export interface ChildDatabase {
  /** What the child's environment needs to use it. */
  readonly env: { readonly DATABASE_URL: string } | { readonly HUB_DATA_DIR: string };
  /**
   * This process's handle on it, once the child has let go of a data folder (its lock is the
   * child's while it runs). Close it when done: a server database is dropped then.
   */
  open(): DatabaseHandle;
  /** Done with it without opening it: drops a server database. */
  close(): Promise<void>;
}

/**
 * A fresh, migrated database: on the run's PostgreSQL server when there is one, else a PGlite data
 * folder in `dir` holding a copy of the run's template, where `openDatabase` looks for one.
 */
export async function createChildDatabase(dir: string): Promise<ChildDatabase> {
  const target = inject('testDatabase');
  if (target.kind === 'pg') {
    const server = await createTestDatabase();
    return { env: { DATABASE_URL: server.url! }, open: () => server, close: () => server.close() };
  }
  await copyTemplateInto(dir);
  return { env: { HUB_DATA_DIR: dir }, open: () => openDatabase({ dataDir: dir }), close: async () => {} };
}

/**
 * A migrated embedded database in `dataDir`, as `hub migrate up` leaves one, copied from the run's
 * PGlite template: a fraction of the time of making one there and migrating it.
 */
export async function copyTemplateInto(dataDir: string): Promise<void> {
  const target = inject('testDatabase');
  if (target.kind !== 'pglite') throw new Error('copyTemplateInto is for the embedded pass');
  // Its owner's alone, as the hub makes it: PGlite's own folder (0755) is one the hub refuses.
  mkdirSync(embeddedDatabaseFolder(dataDir), { recursive: true, mode: 0o700 });
  await new PGlite(embeddedDatabaseFolder(dataDir), { loadDataDir: pgliteTemplate(target.dump) }).close();
}

/** Makes an embedded database in `dataDir`, not migrated, as a hub command would find one there. */
export async function createEmbeddedDatabase(dataDir: string): Promise<void> {
  const handle = openDatabase({ dataDir });
  try {
    await sql`select 1`.execute(handle.db);
  } finally {
    await handle.close();
  }
}
