import { spawn } from 'node:child_process';

export interface NodeRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Node's flags for the processes the tests start: each runs for seconds on a tiny database, too
 * short for V8's optimizing compiler to earn back what it spends on PGlite's WebAssembly, so they
 * keep to its baseline code (Liftoff), which behaves the same: a `hub` command takes a third less
 * CPU. Not for the hub itself, whose database runs for hours.
 */
const CHILD_NODE_FLAGS = ['--liftoff-only'];

/** The arguments of `node` that run the `hub` command with `args`, as the tests run it. */
export const hubArgs = (...args: string[]) => [...CHILD_NODE_FLAGS, 'bin/hub.js', ...args];

/**
 * Runs `node ...args` in a child process with only `env`, with CHILD_NODE_FLAGS. Asynchronous, unlike spawnSync: a worker
 * blocked for the tens of seconds a few CLI runs take on a busy machine misses vitest's RPC deadline.
 */
export function runNode(env: Record<string, string | undefined>, ...args: string[]): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, ...args], { env, timeout: 90_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject).on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
