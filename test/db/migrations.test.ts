import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { createMigrator, migrateToLatest, migrationStatus, requireMigrated } from '../../src/db/migrator.js';
import { migrations } from '../../migrations/index.js';
import { createEmbeddedDatabase, createTestDatabase, describeEmbedded, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';

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

describe('a database migrated by a newer version of the hub', () => {
  it('is named as such, and neither migrated nor used as it is', async () => {
    const newer = await createTestDatabase();
    try {
      await sql`insert into kysely_migration (name, timestamp) values ('9999_from_a_newer_hub', '2030-01-01T00:00:00.000Z')`.execute(newer.db);
      const status = await migrationStatus(newer.db);
      expect(status.at(-1)).toEqual({ name: '9999_from_a_newer_hub', executedAt: new Date('2030-01-01T00:00:00.000Z'), known: false });
      expect(status.slice(0, -1).every((m) => m.known && m.executedAt instanceof Date)).toBe(true);
      const newerError = { code: 'DATABASE_NEWER_THAN_HUB', message: expect.stringContaining('newer version of the hub (9999_from_a_newer_hub)') };
      await expect(migrateToLatest(newer.db)).rejects.toMatchObject(newerError);
      await expect(requireMigrated(newer.db)).rejects.toMatchObject(newerError);
    } finally {
      await newer.close();
    }
  });
});

describe.skipIf(testServerUrl() === undefined)('an upgrade over several migrations', () => {
  it('lets go of the tables each migration locked as it commits, not at the end of the last', async () => {
    const older = await createTestDatabase();
    const reader = openDatabase({ url: older.url!, poolSize: 1 });
    try {
      expect((await createMigrator(older.db).migrateTo('0012_loyalty_offers')).error).toBeUndefined();
      // A long read of the audit trail: migration 0021 waits for it to end.
      let endRead!: () => void;
      let readStarted!: () => void;
      const started = new Promise<void>((resolve) => (readStarted = resolve));
      const read = reader.db.transaction().execute(async (tx) => {
        await sql`lock table audit_events in access share mode`.execute(tx);
        readStarted();
        await new Promise<void>((resolve) => (endRead = resolve));
      });
      await started;
      const upgrade = migrateToLatest(older.db);
      const waiting = async () => (await sql<{ n: number }>`select count(*)::int as n from pg_locks where not granted and relation = 'audit_events'::regclass`.execute(reader.checks)).rows[0]!.n;
      while ((await waiting()) === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      // Meanwhile the hub still running checks agents (0013 altered them) and reads users (0019).
      const meanwhile = await older.db.transaction().execute(async (tx) => {
        await sql`set local lock_timeout = '2s'`.execute(tx);
        await sql`select count(*) from agents`.execute(tx);
        await sql`select count(*) from users`.execute(tx);
        return 'answered';
      }).catch((error: Error) => error.message);
      endRead();
      await read;
      expect(await upgrade).toEqual(Object.keys(migrations).slice(12));
      expect(meanwhile).toBe('answered');
    } finally {
      await reader.close();
      await older.close();
    }
  }, 30_000);
});

describeEmbedded('embedded PostgreSQL on disk', () => {
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
  }, 120_000);

  it('is migrated and inspected through `hub migrate`', async () => {
    const env = { PATH: process.env.PATH, HUB_DATA_DIR: path.join(dir, 'cli'), LOG_LEVEL: 'silent' };
    const run = (...args: string[]) => runNode(env, 'bin/hub.js', 'migrate', ...args);
    // A database made there, not migrated: the commands that only read refuse a folder without one.
    await createEmbeddedDatabase(env.HUB_DATA_DIR);
    const before = await run('status');
    expect(before.status).toBe(0);
    expect(before.stdout).toMatch(/^pending +0001_foundation$/m);
    const verify = await runNode(env, 'bin/hub.js', 'audit', 'verify');
    expect({ status: verify.status, stderr: verify.stderr.trim() }).toEqual({ status: 2, stderr: 'hub: audit not verified: the database has pending migrations: run `hub migrate up` first' });
    const up = await run('up');
    expect(up.stdout.trim()).toBe(`applied: ${Object.keys(migrations).join(', ')}`);
    expect((await run('status')).stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}0001_foundation$/m);
    expect((await run('--help')).stdout).toContain('status');
  }, 180_000);
});
