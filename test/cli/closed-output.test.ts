import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createChildDatabase } from '../helpers/database.js';
import { hubArgs } from '../helpers/run-node.js';

/** Runs `hub ...args` with a stdout nobody reads: its reading end is closed before the hub writes. */
function runWithClosedStdout(env: Record<string, string | undefined>, ...args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, hubArgs(...args), { env, timeout: 90_000, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject).on('close', (status) => resolve({ status, stderr }));
  });
}

describe('a hub command whose output is closed early (`| head`)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-closed-output-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('still closes the database and exits 0, with nothing on stderr', async () => {
    const database = await createChildDatabase(dir);
    const env = { PATH: process.env.PATH, ...database.env, LOG_LEVEL: 'silent' };
    try {
      expect(await runWithClosedStdout(env, 'migrate', 'status')).toEqual({ status: 0, stderr: '' });
      if ('HUB_DATA_DIR' in database.env) expect(existsSync(path.join(dir, 'pglite.owner'))).toBe(false);
    } finally {
      await database.close();
    }
  }, 120_000);
});
