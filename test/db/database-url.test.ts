import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { testServerUrl, withTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';

// The forms libpq takes for a server on this machine, which operators copy from psql: only a
// server has a socket to reach.
describe.skipIf(testServerUrl() === undefined)('a hub given DATABASE_URL in the forms libpq takes', () => {
  it('serves through a Unix socket named by `host=`, with no host before the path', async ({ skip }) => {
    await withTestDatabase(async (database) => {
      const { rows: settings } = await sql<{ dirs: string }>`select current_setting('unix_socket_directories') as dirs`.execute(database.db);
      const directory = settings[0]!.dirs.split(',')[0]?.trim();
      if (!directory) return skip('the server listens on no Unix socket');
      const server = new URL(database.url!);
      const url = `postgresql:///${server.pathname.slice(1)}?host=${encodeURIComponent(directory)}&user=${server.username}`;
      const hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: url }));
      try {
        const user = await signUpUser(hub);
        const { rows } = await sql<{ socket: boolean; users: number }>`
          select inet_server_addr() is null as socket, (select count(*)::int from users where id = ${user.id}) as users`.execute(hub.database.db);
        expect(rows[0]).toEqual({ socket: true, users: 1 });
      } finally {
        await hub.close();
      }
    });
  });
});
