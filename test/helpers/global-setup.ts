import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase, pgliteParsers } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';

/**
 * Migrates one template database per test run; each test file then gets a copy of it, so no file
 * pays for migrations or for PGlite's first boot. On a server (TEST_DATABASE_URL) the template is
 * a database cloned with CREATE DATABASE ... TEMPLATE; on PGlite it is a dump of the data directory.
 */
export default async function setup(project: TestProject) {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    const template = `hub_template_${process.pid}`;
    await admin(serverUrl, `drop database if exists ${template}`, `create database ${template}`);
    const templateUrl = withDatabase(serverUrl, template);
    const database = openDatabase({ url: templateUrl, poolSize: 1 });
    await migrateToLatest(database.db);
    await database.close();
    project.provide('testDatabase', { kind: 'pg', serverUrl, template });
    return () => admin(serverUrl, `drop database if exists ${template} with (force)`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-test-'));
  // Every test file boots a copy, which is most of a small file's time: the copy holds only what
  // a test can reach. 1 MB WAL segments, not 16; no template databases (the tests create none);
  // 16 MB of shared buffers, which a test database never fills, not 128 zeroed at each boot.
  const pglite = new PGlite({ parsers: pgliteParsers, initDbStartParams: ['--wal-segsize=1'] });
  const database = openDatabase({ pglite });
  await migrateToLatest(database.db);
  for (const statement of [
    `update pg_database set datistemplate = false where datname in ('template0', 'template1')`,
    'drop database template0',
    'drop database template1',
    `alter system set shared_buffers = '16MB'`,
    'checkpoint',
  ]) {
    await pglite.exec(statement);
  }
  const dump = path.join(dir, 'template.tar');
  writeFileSync(dump, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  await database.close();
  project.provide('testDatabase', { kind: 'pglite', dump });
  return () => rmSync(dir, { recursive: true, force: true });
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** The same server and database as `url`, signed in as `role` (trust authentication: no password). */
export function withRole(url: string, role: string): string {
  const parsed = new URL(url);
  parsed.username = role;
  parsed.password = '';
  return parsed.toString();
}

export async function admin(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabase: { kind: 'pg'; serverUrl: string; template: string } | { kind: 'pglite'; dump: string };
  }
}
