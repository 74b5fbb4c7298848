import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEmbedded } from '../helpers/database.js';
import { hubArgs } from '../helpers/run-node.js';

/** Runs `hub ...args` under `umask`, as a shell started with that umask would. */
function runUnderUmask(umask: string, env: Record<string, string | undefined>, ...args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, ...hubArgs(...args)], { env, timeout: 90_000, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject).on('close', (status) => resolve({ status, stderr }));
  });
}

const modeOf = (file: string) => statSync(file).mode & 0o777;

describeEmbedded('the data folder the hub creates', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-data-dir-mode-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is its owner’s alone, whatever the umask: the database and the key file are no one else’s to read or replace', async () => {
    const dataDir = path.join(dir, 'new', 'hub data');
    const env = { PATH: process.env.PATH, HUB_DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
    expect(await runUnderUmask('000', env, 'migrate', 'up')).toEqual({ status: 0, stderr: '' });
    expect(await runUnderUmask('000', env, 'keys', 'rotate')).toEqual({ status: 0, stderr: '' });
    expect({ dataDir: modeOf(dataDir), database: modeOf(path.join(dataDir, 'pglite')), key: modeOf(path.join(dataDir, 'key-encryption-key')) }).toEqual({
      dataDir: 0o700,
      database: 0o700,
      key: 0o600,
    });
  }, 180_000);
});
