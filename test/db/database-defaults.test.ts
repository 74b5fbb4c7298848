import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { admin } from '../helpers/global-setup.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { runNode } from '../helpers/run-node.js';

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

  it.each(["'serializable'", "'repeatable read'"])('changes a profile that waited for its audit chain under default_transaction_isolation %s', async (isolation) => {
    const hub = await hubOn(`default_transaction_isolation = ${isolation}`);
    const user = await signUpUser(hub, { givenName: 'Ada' });
    // Another change of the person (an audit append of another instance) moves their chain head
    // while the request waits for it, as changes of one person do every day.
    let resume!: () => void;
    const held = new Promise<void>((resolve) => (resume = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const holder = database!.db.transaction().setIsolationLevel('read committed').execute(async (tx) => {
      await sql`update audit_chain_heads set seq = seq where chain_key = ${user.id}`.execute(tx);
      resume();
      await released;
    });
    await held;
    const response = graphql<any>(hub, 'mutation { updateProfile(input: { givenName: "Grace" }) { givenName } }', { token: user.accessToken });
    await new Promise((resolve) => setTimeout(resolve, 500));
    release();
    await holder;
    const answer = await response;
    expect(answer.errors).toBeUndefined();
    expect(answer.data.updateProfile.givenName).toBe('Grace');
  });

  it('runs hub seed and hub audit verify past a statement timeout the database sets, as it does HUB_STATEMENT_TIMEOUT', async () => {
    database = await createTestDatabase();
    await admin(testServerUrl()!, `alter database ${new URL(database.url!).pathname.slice(1)} set statement_timeout = '1ms'`);
    const env = { PATH: process.env.PATH, LOG_LEVEL: 'silent', DATABASE_URL: database.url!, HUB_KEY_ENCRYPTION_KEY: '3'.repeat(64) };
    const seed = await runNode(env, 'bin/hub.js', 'seed', '--users', '20', '--seed', '3');
    expect(seed.status, seed.stderr).toBe(0);
    const verify = await runNode(env, 'bin/hub.js', 'audit', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
  });
});
