import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { migrateToLatest, migrationStatus } from '../../src/db/migrator.js';
import { migrations } from '../../migrations/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { runNode } from './run-node.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

describe('migrations', () => {
  it('have all run on the test database, in order', async () => {
    const status = await migrationStatus(database.db);
    expect(status.map((m) => m.name)).toEqual(Object.keys(migrations));
    expect(status.every((m) => m.executedAt instanceof Date)).toBe(true);
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it('give append-only tables a guard the database enforces', async () => {
    await sql`create table scratch (id int)`.execute(database.db);
    await sql`create trigger scratch_append_only before update or delete on scratch for each row execute function hub_forbid_change()`.execute(database.db);
    await sql`insert into scratch values (1)`.execute(database.db);
    await expect(sql`delete from scratch`.execute(database.db)).rejects.toThrow(/DELETE on scratch is not allowed: the table is append-only/);
  });
});

describe('embedded PostgreSQL on disk', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its data across a restart', async () => {
    const first = openDatabase({ dataDir: dir });
    await migrateToLatest(first.db);
    await sql`create table kept (note text)`.execute(first.db);
    await sql`insert into kept values ('still here')`.execute(first.db);
    await first.close();

    const second = openDatabase({ dataDir: dir });
    try {
      expect(await migrateToLatest(second.db)).toEqual([]);
      const { rows } = await sql<{ note: string }>`select note from kept`.execute(second.db);
      expect(rows).toEqual([{ note: 'still here' }]);
    } finally {
      await second.close();
    }
  });

  it('is migrated and inspected through `hub migrate`', async () => {
    const env = { PATH: process.env.PATH, HUB_DATA_DIR: path.join(dir, 'cli'), LOG_LEVEL: 'silent' };
    const run = (...args: string[]) => runNode(env, 'bin/hub.js', 'migrate', ...args);
    const before = await run('status');
    expect(before.status).toBe(0);
    expect(before.stdout).toMatch(/^pending +0001_foundation$/m);
    const up = await run('up');
    expect(up.stdout.trim()).toBe(`applied: ${Object.keys(migrations).join(', ')}`);
    expect((await run('status')).stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}0001_foundation$/m);
    expect((await run('--help')).stdout).toContain('status');
  }, 180_000);
});
