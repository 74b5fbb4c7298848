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
      // The socket is `.s.PGSQL.<port>` in its directory: a server off 5432 needs its port named too.
      const { rows: settings } = await sql<{ dirs: string; port: string }>`
        select current_setting('unix_socket_directories') as dirs, current_setting('port') as port`.execute(database.db);
      const directory = settings[0]!.dirs.split(',')[0]?.trim();
      if (!directory) return skip('the server listens on no Unix socket');
      const server = new URL(database.url!);
      const url = `postgresql:///${server.pathname.slice(1)}?host=${encodeURIComponent(directory)}&port=${settings[0]!.port}&user=${server.username}`;
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
