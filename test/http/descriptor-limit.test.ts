import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createChildDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/net.js';
import { hubArgs } from '../helpers/run-node.js';

// A small container may allow a process 256 open files, hard: Node cannot raise that limit, and
// every connection, database session and data file of the hub takes one.
const DESCRIPTORS = 256;

interface LimitedHub {
  readonly port: number;
  /** Everything the hub wrote so far, both streams. */
  readonly output: () => string;
  /** SIGTERM, then resolves to how it exited. */
  readonly stop: () => Promise<[number | null, NodeJS.Signals | null]>;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** `hub serve` on a database of its own, allowed DESCRIPTORS open files; resolves once it listens. */
async function startLimitedHub(env: Record<string, string> = {}): Promise<LimitedHub> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-descriptors-'));
  dirs.push(dir);
  const database = await createChildDatabase(path.join(dir, 'data'));
  const port = await freePort();
  const child = spawn('sh', ['-c', `ulimit -n ${DESCRIPTORS} && exec "$0" "$@"`, process.execPath, ...hubArgs('serve')], {
    env: {
      PATH: process.env.PATH,
      ...database.env,
      HUB_DEMO_DATA: 'false',
      LOG_LEVEL: 'info',
      PORT: String(port),
      HUB_KEY_ENCRYPTION_KEY: '4'.repeat(64),
      HUB_GRAPHQL_RATE_LIMIT: '100000',
      ...env,
    },
    timeout: 60_000,
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let output = '';
  const take = (chunk: string) => (output += chunk);
  child.stdout.setEncoding('utf8').on('data', take);
  child.stderr.setEncoding('utf8').on('data', take);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => output.includes('GraphQL at') && resolve());
    exited.then(() => reject(new Error(`hub serve exited before listening:\n${output}`)), reject);
  });
  return {
    port,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      const exit = await exited;
      await database.close();
      return exit;
    },
  };
}

describe(`hub serve allowed ${DESCRIPTORS} open files`, () => {
  it('starts, answers and stops', async () => {
    const hub = await startLimitedHub();
    const ready = await fetch(`http://127.0.0.1:${hub.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await hub.stop()).toEqual([0, null]);
  }, 30_000);
});
