import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createChildDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/net.js';
import { hubArgs } from '../helpers/run-node.js';

const CLIENT = { id: 'agt_shutdown_operator', secret: 'shutdown-test-operator-secret-0123456789' };

describe('hub serve stopped by a signal', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-shutdown-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // SIGHUP: the terminal it runs in closed.
  it.each(['SIGTERM', 'SIGHUP'] as const)('on %s, writes the audit events of the requests it answered, then exits 0', async (stopSignal) => {
    // The run's PostgreSQL server when there is one: a write there takes long enough to lose a race with the exit.
    const database = await createChildDatabase(path.join(dir, stopSignal));
    const port = await freePort();
    const env = {
      PATH: process.env.PATH,
      ...database.env,
      HUB_DEMO_DATA: 'false',
      LOG_LEVEL: 'info',
      PORT: String(port),
      HUB_KEY_ENCRYPTION_KEY: '4'.repeat(64),
      HUB_BOOTSTRAP_CLIENT_ID: CLIENT.id,
      HUB_BOOTSTRAP_CLIENT_SECRET: CLIENT.secret,
    };
    const child = spawn(process.execPath, hubArgs('serve'), { env, timeout: 90_000 });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('GraphQL at')) resolve();
      });
      exited.then(() => reject(new Error(`hub serve exited before listening:\n${stdout}`)), reject);
    });

    const basic = Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64');
    const granted = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
      body: 'grant_type=client_credentials',
    });
    expect(granted.status).toBe(200);
    // At once: the event of that grant is still in the audit writer's buffer.
    child.kill(stopSignal);
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });

    const handle = database.open();
    try {
      const issued = await handle.db.selectFrom('audit_events').select('client_id').where('action', '=', 'token.issued').execute();
      expect(issued).toEqual([{ client_id: CLIENT.id }]);
    } finally {
      await handle.close();
    }
  }, 120_000);
});
