import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEmbedded } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';

describeEmbedded('a command that only reads the embedded database, given a HUB_DATA_DIR that holds none', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-missing-data-dir-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const mistyped = path.join(dir, 'hub-dat');
  const env = { PATH: process.env.PATH, HUB_DATA_DIR: mistyped, LOG_LEVEL: 'silent' };

  it('names the path and exits non-zero, creating no database there to report on', async () => {
    // Side by side: each run spends its time starting tsx.
    const [status, verify, keys] = await Promise.all([
      runNode(env, 'bin/hub.js', 'migrate', 'status'),
      runNode(env, 'bin/hub.js', 'audit', 'verify'),
      runNode(env, 'bin/hub.js', 'keys', 'list'),
    ]);
    const why = `no embedded database in HUB_DATA_DIR=${mistyped}: check the path (\`hub migrate up\` creates one)`;
    expect(status).toEqual({ status: 1, stdout: '', stderr: `hub: ${why}\n` });
    expect(verify).toEqual({ status: 2, stdout: '', stderr: `hub: audit not verified: ${why}\n` });
    expect(keys).toEqual({ status: 1, stdout: '', stderr: `hub: ${why}\n` });
    expect(existsSync(mistyped)).toBe(false);
  }, 120_000);

  it('refuses memory://, which never holds a database when the command starts', async () => {
    const memory = { ...env, HUB_DATA_DIR: 'memory://' };
    const [status, verify, keys] = await Promise.all([
      runNode(memory, 'bin/hub.js', 'migrate', 'status'),
      runNode(memory, 'bin/hub.js', 'audit', 'verify'),
      runNode(memory, 'bin/hub.js', 'keys', 'rotate'),
    ]);
    const why = 'no embedded database in HUB_DATA_DIR=memory://: it holds one only while the process that made it runs; set HUB_DATA_DIR to a folder, or DATABASE_URL';
    expect(status).toEqual({ status: 1, stdout: '', stderr: `hub: ${why}\n` });
    expect(verify).toEqual({ status: 2, stdout: '', stderr: `hub: audit not verified: ${why}\n` });
    expect(keys).toEqual({ status: 1, stdout: '', stderr: `hub: ${why}\n` });
  }, 120_000);
});
