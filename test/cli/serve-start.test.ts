import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashClientSecret } from '../../src/agents/agent-credentials.js';
import { createChildDatabase } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';

describe('hub serve when its port is taken', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-serve-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows the operator client it created, exits 1 and lets go of the database', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    const database = await createChildDatabase(dir);
    try {
      const env = {
        PATH: process.env.PATH,
        ...database.env,
        HUB_DEMO_DATA: 'false',
        LOG_LEVEL: 'silent',
        PORT: String(port),
        HUB_KEY_ENCRYPTION_KEY: '5'.repeat(64),
      };
      const run = await runNode(env, 'bin/hub.js', 'serve');
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/EADDRINUSE/);
      const [, clientId, clientSecret] = /client_id: +(agt_\S+)\n +client_secret: +(\S+)/.exec(run.stdout) ?? [];
      expect(clientId, run.stdout).toBeDefined();

      // The data folder is free again, and the client shown is the one the database holds.
      if ('HUB_DATA_DIR' in database.env) expect(existsSync(path.join(dir, 'pglite.owner'))).toBe(false);
      const handle = database.open();
      try {
        const secrets = await handle.db.selectFrom('agent_secrets').select(['agent_id', 'secret_hash']).execute();
        expect(secrets.map((row) => [row.agent_id, Buffer.from(row.secret_hash).toString('hex')])).toEqual([[clientId, hashClientSecret(clientSecret!).toString('hex')]]);
      } finally {
        await handle.close();
      }
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 120_000);
});
