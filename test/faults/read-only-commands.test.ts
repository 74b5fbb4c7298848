import { describe, expect, it, onTestFinished } from 'vitest';
import { admin, withDatabase } from '../helpers/global-setup.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';

// `/readyz` and a hub's requests treat a database that refuses writes as unavailable: right for
// serving. But the same `ping` is what every `hub` command waits on (`waitForDatabase`), and
// `hub audit verify`, `hub migrate status` and `hub keys list` only read: a hot standby (a read
// replica) is exactly where an operator runs the audit verification, so as not to load the primary.
// Those commands must still run there, as they did before the writable ping.
describe.skipIf(!testServerUrl())('read-only commands on a database that refuses writes (a standby)', () => {
  it('hub audit verify checks the trail instead of reporting the database unreachable', async () => {
    const database = await createTestDatabase();
    onTestFinished(() => database.close());
    const name = new URL(database.url!).pathname.slice(1);
    await admin(withDatabase(testServerUrl()!, 'postgres'), `alter database ${name} set default_transaction_read_only = on`);
    onTestFinished(() => admin(withDatabase(testServerUrl()!, 'postgres'), `alter database ${name} set default_transaction_read_only = off`));

    const run = await runNode({ PATH: process.env.PATH, LOG_LEVEL: 'silent', DATABASE_URL: database.url, HUB_DB_CONNECT_TIMEOUT: '2' }, 'bin/hub.js', 'audit', 'verify');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^ok: \d+ chains, \d+ events\n$/);
    expect(run.status).toBe(0);

    const env = { PATH: process.env.PATH, LOG_LEVEL: 'silent', DATABASE_URL: database.url, HUB_DB_CONNECT_TIMEOUT: '2', HUB_KEY_ENCRYPTION_KEY: 'a'.repeat(64) };
    const status = await runNode(env, 'bin/hub.js', 'migrate', 'status');
    expect(status.stderr).toBe('');
    expect(status.status).toBe(0);

    const keys = await runNode(env, 'bin/hub.js', 'keys', 'list');
    expect(keys.stderr).toBe('');
    expect(keys.status).toBe(0);
  }, 120_000);
});
