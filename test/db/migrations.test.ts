import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { createMigrator, migrateToLatest, migrationStatus, requireMigrated } from '../../src/db/migrator.js';
import { migrations } from '../../migrations/index.js';
import { createEmbeddedDatabase, createTestDatabase, describeEmbedded, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';
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

  it('make the audit trail’s partitions with their owner’s rights, on a fixed search_path, for no one else unless granted', async () => {
    const { rows } = await sql<{ definer: boolean; config: string[]; public: boolean }>`
      select prosecdef as definer, proconfig as config, exists (select 1 from aclexplode(proacl) where grantee = 0) as public
      from pg_proc where oid = 'audit_ensure_partitions(timestamptz)'::regprocedure`.execute(database.db);
    expect(rows).toEqual([{ definer: true, config: ['search_path=public, pg_temp'], public: false }]);
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
  let older: TestDatabase;
  beforeEach(async () => {
    older = await createTestDatabase();
    expect((await createMigrator(older.db).migrateTo('0012_loyalty_offers')).error).toBeUndefined();
  });
  afterEach(() => older.close());
  const { holding } = lockHolder(() => older.db);
  const upgraded = Object.keys(migrations).slice(12);

  /** A long read of the audit trail: migration 0021 drops one of its indexes, so waits for it to end. */
  const longRead = () => holding((tx) => sql`lock table audit_events in access share mode`.execute(tx));
  const migrationWaits = async () => {
    const waiting = () => sql<{ n: number }>`select count(*)::int as n from pg_locks where not granted and relation = 'audit_events'::regclass`.execute(older.db);
    while ((await waiting()).rows[0]!.n === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  };
  /** `statement` in a transaction that waits at most 2 s for a lock: 'answered', or why not. */
  const meanwhile = (statement: (tx: Db) => Promise<unknown>) =>
    older.db
      .transaction()
      .execute(async (tx) => {
        await sql`set local lock_timeout = '2s'`.execute(tx);
        await statement(tx);
        return 'answered';
      })
      .catch((error: Error) => error.message);

  it('lets go of the tables each migration locked as it commits, not at the end of the last', async () => {
    const read = await longRead();
    const upgrade = migrateToLatest(older.db);
    await migrationWaits();
    // Meanwhile the hub still running checks agents (0013 altered them) and reads users (0019).
    const checked = await meanwhile(async (tx) => {
      await sql`select count(*) from agents`.execute(tx);
      await sql`select count(*) from users`.execute(tx);
    });
    await read.release();
    expect(await upgrade).toEqual(upgraded);
    expect(checked).toBe('answered');
  }, 30_000);

  it('gives way to a long transaction holding a lock it needs, and goes on once it ends', async () => {
    const read = await longRead();
    const waits: string[] = [];
    const upgrade = migrateToLatest(older.db, { lockTimeoutMs: 100, onLockWait: (message) => waits.push(message) });
    await migrationWaits();
    // A running hub's audit writer queues behind the migration's lock for no longer than it waits.
    const written = await meanwhile((tx) => sql`lock table audit_events in row exclusive mode`.execute(tx));
    expect(written).toBe('answered');
    await read.release();
    expect(await upgrade).toEqual(upgraded);
    expect(waits[0]).toMatch(/^migration 0021_agent_reads_audiences gave way to a transaction holding a lock it needs; trying again in 500 ms$/);
  }, 30_000);

  it('gives up, naming the migration, once the transaction has outlasted its tries', async () => {
    await longRead();
    await expect(migrateToLatest(older.db, { lockTimeoutMs: 100, lockRetriesForMs: 1_000 })).rejects.toThrow(
      /^migration 0021_agent_reads_audiences failed: a transaction held a lock it needs for \d+ s .*lock timeout/,
    );
    // What came before it stays applied, and it is still pending: nothing half-done.
    const pending = (await migrationStatus(older.db)).filter((m) => !m.executedAt).map((m) => m.name);
    expect(pending).toEqual(Object.keys(migrations).slice(20));
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

    // A migration a newer hub applied is listed, and marked as one this version lacks.
    const handle = openDatabase({ dataDir: env.HUB_DATA_DIR });
    try {
      await sql`insert into kysely_migration (name, timestamp) values ('9999_from_a_newer_hub', '2030-01-01T00:00:00.000Z')`.execute(handle.db);
    } finally {
      await handle.close();
    }
    const newer = await run('status');
    expect(newer.status).toBe(0);
    expect(newer.stdout.trim().split('\n').at(-1)).toBe('2030-01-01T00:00:00.000Z  9999_from_a_newer_hub  (not in this version of the hub: the database was migrated by a newer one)');
  }, 180_000);
});
