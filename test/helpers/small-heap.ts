import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createChildDatabase } from './database.js';
import { freePort } from './net.js';
import { runNode, type NodeRun } from './run-node.js';

/**
 * Runs `script`, an ES module run from the project's root through tsx that builds and loads a hub
 * itself (`createHub(loadConfig(process.env))`), in a child process given the V8 heap of a
 * memory-limited deployment (`heapMib`), with a database of its own (PGlite, or one on the test
 * server), a free PORT and the environment of a quiet test hub, with `env` over it. The database and
 * its folder are gone once it ends.
 */
export async function runUnderSmallHeap(script: string, heapMib: number, env: Record<string, string> = {}): Promise<NodeRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-small-heap-'));
  const database = await createChildDatabase(path.join(dir, 'data'));
  try {
    const childEnv = {
      PATH: process.env.PATH,
      ...database.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HUB_DEMO_DATA: 'false',
      HUB_WEBHOOK_WORKER: 'false',
      HUB_KEY_ENCRYPTION_KEY: '4'.repeat(64),
      PORT: String(await freePort()),
      ...env,
    };
    return await runNode(childEnv, `--max-old-space-size=${heapMib}`, '--import', 'tsx', '--input-type=module', '-e', script);
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
