import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createChildDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/net.js';
import { hubArgs } from '../helpers/run-node.js';

/** Resolves once the hub at `port` answers `/healthz`, or rejects when the child ends or `ms` pass first. */
async function answering(child: ChildProcess, port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`hub serve ended (${child.exitCode ?? child.signalCode}) before it answered`);
    const status = await fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`hub serve did not answer within ${ms} ms`);
}

/** How `child` ended, or `hung` when it had not within `ms`. */
async function ending(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'hung'> {
  const timer = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms).unref());
  const ended = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return Promise.race([ended, timer]);
}

describe('hub serve whose log cannot be written', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-unwritable-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves with its standard output on a full device (ENOSPC), and stops on SIGTERM', async () => {
    const database = await createChildDatabase(path.join(dir, 'full'));
    const port = await freePort();
    const env = { PATH: process.env.PATH, ...database.env, HUB_DEMO_DATA: 'false', LOG_LEVEL: 'info', PORT: String(port), HUB_KEY_ENCRYPTION_KEY: '3'.repeat(64) };
    const full = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, hubArgs('serve'), { env, stdio: ['ignore', full, 'pipe'] });
    closeSync(full);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      await answering(child, port, 60_000);
      child.kill('SIGTERM');
      expect(await ending(child, 30_000), stderr).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
      await database.close();
    }
  }, 120_000);

  it('stops on SIGTERM while a reader of its standard output takes nothing more', async () => {
    const database = await createChildDatabase(path.join(dir, 'stuck'));
    const port = await freePort();
    const env = { PATH: process.env.PATH, ...database.env, HUB_DEMO_DATA: 'false', LOG_LEVEL: 'info', PORT: String(port), HUB_KEY_ENCRYPTION_KEY: '3'.repeat(64) };
    // A log collector that hangs: the pipe is never read past the first bytes.
    const child = spawn(process.execPath, hubArgs('serve'), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pause();
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      await answering(child, port, 60_000);
      // Each request logs two lines: some 400 KB, far more than the pipe holds (64 KiB).
      for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: 50 }, () => fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.text())));
      child.kill('SIGTERM');
      expect(await ending(child, 30_000), stderr).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
      await database.close();
    }
  }, 180_000);
});
