import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV } from '../helpers/hub.js';
import { freePort } from '../helpers/net.js';

// Out of open files, libuv accepts and closes a waiting connection with a descriptor it keeps in
// reserve; when that one is gone too (another thread took the file it freed), accept() fails and
// Node emits the failure as an 'error' event of the listening server.
const acceptFailure = () => Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });

describe('a listening hub whose server cannot accept a connection', () => {
  const lines: string[] = [];
  let hub: Hub;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    const logger = createLogger({ logLevel: 'warn' }, { write: (line: string) => void lines.push(line) });
    hub = await createHub(loadConfig({ ...TEST_ENV, PORT: String(port) }), { database: await createTestDatabase(), logger });
    await hub.listen();
  });
  afterAll(() => hub.close());

  it('goes on serving, and logs the failures once, not once each', async () => {
    hub.http.server.emit('error', acceptFailure());
    hub.http.server.emit('error', acceptFailure());
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const logged = lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((entry) => entry.msg.startsWith('connections could not be accepted'));
    expect(logged).toEqual([{ ...logged[0], level: 40, msg: 'connections could not be accepted: accept EMFILE (1 since this was last logged)' }]);
  });
});
