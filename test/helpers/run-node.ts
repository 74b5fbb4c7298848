import { spawn } from 'node:child_process';

export interface NodeRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node ...args` in a child process with only `env`. Asynchronous, unlike spawnSync: a worker
 * blocked for the tens of seconds a few CLI runs take on a busy machine misses vitest's RPC deadline.
 */
export function runNode(env: Record<string, string | undefined>, ...args: string[]): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, timeout: 90_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject).on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
