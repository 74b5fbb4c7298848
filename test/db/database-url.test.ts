import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';

/** The first directory the server keeps its Unix socket in, if any. */
async function socketDirectory(database: TestDatabase): Promise<string | undefined> {
  const { rows } = await sql<{ dirs: string }>`select current_setting('unix_socket_directories') as dirs`.execute(database.db);
  return rows[0]!.dirs.split(',')[0]?.trim() || undefined;
}

// The forms libpq takes for a server on this machine, which operators copy from psql: only a
// server has a socket to reach.
describe.skipIf(testServerUrl() === undefined)('a hub given DATABASE_URL in the forms libpq takes', () => {
  let database: TestDatabase | undefined;
  let hub: Hub | undefined;
  afterEach(async () => {
    await hub?.close();
    await database?.close();
    hub = database = undefined;
  });

  it('serves through a Unix socket named by `host=`, with no host before the path', async ({ skip }) => {
    database = await createTestDatabase();
    const directory = await socketDirectory(database);
    if (!directory) return skip('the server listens on no Unix socket');
    const server = new URL(database.url!);
    const url = `postgresql:///${server.pathname.slice(1)}?host=${encodeURIComponent(directory)}&user=${server.username}`;
    hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: url }));
    const user = await signUpUser(hub);
    const { rows } = await sql<{ socket: boolean; users: number }>`
      select inet_server_addr() is null as socket, (select count(*)::int from users where id = ${user.id}) as users`.execute(hub.database.db);
    expect(rows[0]).toEqual({ socket: true, users: 1 });
  });
});
