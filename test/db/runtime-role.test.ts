import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createMigrator, migrateToLatest, migrationStatus } from '../../src/db/migrator.js';
import { fixedClock } from '../../src/shared/clock.js';
import { migrations } from '../../migrations/index.js';
import { testServerUrl } from '../helpers/database.js';
import { admin, withDatabase, withRole } from '../helpers/global-setup.js';
import { signUpUser, TEST_ENV } from '../helpers/hub.js';

/** The grants README.md's "Database roles" lists, for the owner and runtime roles named. */
function readmeGrants(owner: string, runtime: string): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Database roles\n'));
  const block = /```sql\n([\s\S]*?)```/.exec(section)![1]!;
  return block.replace(/\bhub_owner\b/g, owner).replace(/\bhub_app\b/g, runtime);
}

/**
 * The hub run as a role that owns no table, beside an owner role that migrated the database, as
 * README.md's "Database roles" sets it up: only a server has roles (PGlite is one superuser).
 */
describe.skipIf(testServerUrl() === undefined)('a hub running as a role that owns nothing', () => {
  const suffix = randomBytes(6).toString('hex');
  const owner = `hub_test_owner_${suffix}`;
  const runtime = `hub_test_app_${suffix}`;
  const databases: string[] = [];

  /** A database owned by the owner role, migrated by it (up to `upTo`), the README's grants given. */
  async function ownedDatabase(upTo?: string): Promise<{ ownerUrl: string; runtimeUrl: string }> {
    const serverUrl = testServerUrl()!;
    const name = `hub_test_${randomBytes(6).toString('hex')}`;
    databases.push(name);
    await admin(serverUrl, `create database ${name} owner ${owner}`);
    const ownerUrl = withRole(withDatabase(serverUrl, name), owner);
    const database = openDatabase({ url: ownerUrl, poolSize: 1 });
    try {
      if (upTo) expect((await createMigrator(database.db).migrateTo(upTo)).error).toBeUndefined();
      else await migrateToLatest(database.db);
    } finally {
      await database.close();
    }
    await admin(ownerUrl, readmeGrants(owner, runtime));
    return { ownerUrl, runtimeUrl: withRole(ownerUrl, runtime) };
  }

  beforeAll(async () => {
    await admin(testServerUrl()!, `create role ${owner} login nosuperuser nocreatedb nocreaterole`, `create role ${runtime} login nosuperuser nocreatedb nocreaterole`);
  });
  afterAll(async () => {
    const serverUrl = testServerUrl()!;
    await admin(serverUrl, ...databases.map((name) => `drop database if exists ${name} with (force)`), `drop role if exists ${runtime}`, `drop role if exists ${owner}`);
  });

  it('gets its events into their month’s partition, and cannot undo what guards the trail', async () => {
    const { ownerUrl, runtimeUrl } = await ownedDatabase();
    // A month no partition exists for: the migration made this one's and the next.
    const now = new Date();
    const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 3, 10, 12));
    const part = `audit_events_${month.toISOString().slice(0, 7).replace('-', '_')}`;
    const hub = await createHub(loadConfig(TEST_ENV), { database: openDatabase({ url: runtimeUrl }), clock: fixedClock(month) });
    let user: { id: string };
    try {
      user = await signUpUser(hub);
    } finally {
      await hub.close();
    }

    const asOwner = openDatabase({ url: ownerUrl, poolSize: 1 });
    try {
      const { rows } = await sql<{ part: string }>`select distinct tableoid::regclass::text as part from audit_events where subject_user_id = ${user.id}`.execute(asOwner.db);
      expect(rows.map((row) => row.part)).toEqual([part]);
      const { rows: owners } = await sql<{ owner: string }>`select pg_get_userbyid(relowner) as owner from pg_class where relname = ${part}`.execute(asOwner.db);
      expect(owners).toEqual([{ owner }]);
    } finally {
      await asOwner.close();
    }

    const asRuntime = openDatabase({ url: runtimeUrl, poolSize: 1 });
    try {
      const refused = (statement: string) => expect(sql.raw(statement).execute(asRuntime.db), statement).rejects.toThrow(/^(must be owner of|permission denied|.* is not allowed: the table is append-only)/);
      await refused(`drop table ${part}`);
      await refused(`alter table audit_events detach partition ${part}`);
      await refused('alter table audit_events disable trigger audit_events_append_only');
      await refused(`alter table ${part} disable trigger user`);
      await refused('alter table audit_chain_heads disable trigger audit_chain_heads_keep');
      await refused(`delete from audit_events where subject_user_id = '${user.id}'`);
      await refused(`delete from ${part} where subject_user_id = '${user.id}'`);
      await refused(`update audit_events set reason = 'edited' where subject_user_id = '${user.id}'`);
      await refused(`update ${part} set reason = 'edited' where subject_user_id = '${user.id}'`);
      await refused('truncate audit_events');
      await refused(`truncate ${part}`);
      await refused('truncate audit_events_default');
      await refused('truncate consent_events');
      await refused('delete from audit_chain_heads');
      await refused('set session_replication_role = replica');
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from audit_events where subject_user_id = ${user.id}`.execute(asRuntime.db);
      expect(rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await asRuntime.close();
    }
  });

  it('refuses to start on a database with migrations pending, which only the owner can apply', async () => {
    const names = Object.keys(migrations);
    const pending = names.slice(names.indexOf('0028_audit_partitions_as_owner'));
    const { runtimeUrl, ownerUrl } = await ownedDatabase('0027_approval_retention');
    const start = createHub(loadConfig(TEST_ENV), { database: openDatabase({ url: runtimeUrl }) });
    await expect(start).rejects.toThrow(/^migration 0028_audit_partitions_as_owner failed: must be owner of function audit_ensure_partitions$/);
    const asOwner = openDatabase({ url: ownerUrl, poolSize: 1 });
    try {
      expect((await migrationStatus(asOwner.db)).filter((m) => !m.executedAt).map((m) => m.name)).toEqual(pending);
    } finally {
      await asOwner.close();
    }
  });
});
