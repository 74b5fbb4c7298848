import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createChildDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/net.js';
import { hubArgs } from '../helpers/run-node.js';

describe('hub serve on an IPv6 address', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-serve-url-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a GraphQL URL that works, with the address in brackets, and stops on SIGTERM saying so', async () => {
    const database = await createChildDatabase(dir);
    const port = await freePort();
    const env = { PATH: process.env.PATH, ...database.env, HUB_DEMO_DATA: 'false', LOG_LEVEL: 'info', HOST: '::1', PORT: String(port), HUB_KEY_ENCRYPTION_KEY: '3'.repeat(64) };
    const child = spawn(process.execPath, hubArgs('serve'), { env, timeout: 90_000 });
    // 'close', not 'exit': the process may have exited before its last lines were read from the pipe.
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    let stdout = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          const printed = /GraphQL at (\S+?)"/.exec(stdout)?.[1];
          if (printed) resolve(printed);
        });
        exited.then(() => reject(new Error(`hub serve exited before listening:\n${stdout}`)), reject);
      });
      expect(url).toBe(`http://[::1]:${port}/graphql`);
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
      expect(await response.json()).toEqual({ data: { __typename: 'Query' } });

      // A process manager's SIGTERM ends it cleanly, and the log's last line says it stopped.
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ level: 30, msg: 'stopped' });
    } finally {
      child.kill('SIGTERM');
      await exited;
      await database.close();
    }
  }, 120_000);
});

describe('hub serve with demo data left on (the default outside production)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-serve-demo-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds the demo customers to an empty embedded database, and never to a server', async () => {
    const database = await createChildDatabase(dir);
    const embedded = 'HUB_DATA_DIR' in database.env;
    const env = { PATH: process.env.PATH, ...database.env, LOG_LEVEL: 'info', PORT: String(await freePort()), HUB_KEY_ENCRYPTION_KEY: '3'.repeat(64) };
    const child = spawn(process.execPath, hubArgs('serve'), { env, timeout: 90_000 });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let stdout = '';
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          if (stdout.includes('GraphQL at')) resolve();
        });
        exited.then(() => reject(new Error(`hub serve exited before listening:\n${stdout}`)), reject);
      });
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
      const handle = database.open();
      try {
        const users = await handle.db.selectFrom('users').select('email').execute();
        if (embedded) expect(users.map((user) => user.email)).toContain('demo@example.com');
        else expect(users).toEqual([]);
      } finally {
        await handle.close();
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
      await database.close();
    }
  }, 120_000);
});
