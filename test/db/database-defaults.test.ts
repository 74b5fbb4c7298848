import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { admin } from '../helpers/global-setup.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';

// What an operator sets for the hub's database (`alter database … set …`, or for its role) becomes
// the default of every session opened afterwards; only a server has such defaults.
describe.skipIf(testServerUrl() === undefined)('a hub on a database whose sessions default to other settings', () => {
  let database: TestDatabase | undefined;
  let hub: Hub | undefined;
  afterEach(async () => {
    await hub?.close();
    await database?.close();
    hub = database = undefined;
  });

  const hubOn = async (setting: string) => {
    database = await createTestDatabase();
    await admin(testServerUrl()!, `alter database ${new URL(database.url!).pathname.slice(1)} set ${setting}`);
    hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: database.url! }));
    return hub;
  };

  it.each(["'SQL, DMY'", "'German'", "'Postgres, MDY'"])('reads times and dates as they are stored under DateStyle %s', async (style) => {
    const hub = await hubOn(`datestyle = ${style}`);
    const user = await signUpUser(hub);
    const row = await sql<{ created_at: Date; day: string }>`select created_at, date '2026-12-03' as day from users where id = ${user.id}`.execute(hub.database.db);
    expect(row.rows[0]!.created_at).toBeInstanceOf(Date);
    expect(Math.abs(row.rows[0]!.created_at.getTime() - Date.now())).toBeLessThan(60_000);
    expect(row.rows[0]!.day).toBe('2026-12-03');
  });
});
