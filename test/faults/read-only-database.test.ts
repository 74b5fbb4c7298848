import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { admin, withDatabase } from '../helpers/global-setup.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { graphql, signUpUser, TEST_ENV } from '../helpers/hub.js';

/**
 * A database that answers but refuses every write (SQLSTATE 25006): a primary demoted to a standby
 * in a failover, or a managed server that turns read-only when its storage fills up. On a server,
 * the database is made read-only for new sessions and the hub's sessions are ended, so its pools
 * reconnect read-only; on PGlite, its one session is.
 */
async function setReadOnly(hub: Hub, database: TestDatabase, on: boolean): Promise<void> {
  const server = testServerUrl();
  if (!server) {
    await sql.raw(`set default_transaction_read_only = ${on ? 'on' : 'off'}`).execute(hub.services.db);
    return;
  }
  const name = new URL(database.url!).pathname.slice(1);
  await admin(
    withDatabase(server, 'postgres'),
    `alter database ${name} set default_transaction_read_only = ${on ? 'on' : 'off'}`,
    `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`,
  );
  // The pools drop the ended sessions as they next use them.
  for (let i = 0; i < 20; i++) await sql`select 1`.execute(hub.services.db).catch(() => {});
}

describe('a database that answers but refuses writes', () => {
  it('never serves a profile read whose audit event it then drops', async () => {
    const database = await createTestDatabase();
    const hub = await createHub(loadConfig(TEST_ENV), { database, audit: { flushIntervalMs: 10, retryDelayMs: 10 } });
    onTestFinished(() => hub.close());
    const user = await signUpUser(hub);
    await hub.services.audit.flush();

    await setReadOnly(hub, database, true);
    const read = await graphql<{ me: { email: string } }>(hub, '{ me { email } }', { token: user.accessToken });
    // Let the writer try (and retry) the read's event while the database still refuses writes.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await setReadOnly(hub, database, false);
    await hub.services.audit.flush();

    const reads = await hub.services.db.selectFrom('audit_events').select('id').where('subject_user_id', '=', user.id).where('action', '=', 'profile.read').execute();
    // Either the read was turned away, or its audit event is in the trail.
    if (read.data?.me?.email === user.email) expect(reads, 'a profile read was served and its audit event dropped').toHaveLength(1);
    else expect(read.status).toBe(503);
  }, 60_000);

  it('is not reported ready', async () => {
    const database = await createTestDatabase();
    const hub = await createHub(loadConfig(TEST_ENV), { database });
    onTestFinished(() => hub.close());
    await setReadOnly(hub, database, true);
    onTestFinished(() => setReadOnly(hub, database, false));
    const ready = await hub.http.inject({ method: 'GET', url: '/readyz' });
    const signUp = await graphql(hub, 'mutation { signUp(input: { email: "ro@example.com", password: "correct horse battery staple 42" }) { accessToken } }');
    expect(signUp.errors?.[0]?.extensions?.code).toBeDefined();
    expect(ready.statusCode, 'every write fails, yet /readyz answers ready').toBe(503);
    // Told apart from an outage: the database answers, and whoever runs it looks at why it takes no writes.
    expect(ready.json()).toEqual({ status: 'unavailable', reason: 'database accepts no writes' });
  }, 60_000);
});
