import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createChildDatabase, testServerUrl } from '../helpers/database.js';
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

interface Answer {
  readonly status: number;
  readonly retryAfter?: string;
  readonly body: string;
}

/** POSTs a sign-up of a new person over `agent`'s connections. */
let signUps = 0;
function signUp(port: number, agent: http.Agent): Promise<Answer> {
  const body = JSON.stringify({
    query: 'mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }',
    variables: { input: { email: `descriptors-${signUps++}@example.com`, password: 'correct horse battery staple' } },
  });
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, retryAfter: response.headers['retry-after'], body: text }));
    });
    request.on('error', reject).end(body);
  });
}

/** GETs `/healthz` over `agent`'s connections; resolves to the status. */
function healthz(port: number, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (response) => resolve(response.resume().statusCode!)).on('error', reject);
  });
}

/** Connections to `port` that send nothing, as many as the hub takes and more; destroy them to end the flood. */
async function flood(port: number, count: number): Promise<net.Socket[]> {
  const sockets = Array.from({ length: count }, () => net.connect(port, '127.0.0.1').on('error', () => {}));
  // Those past the hub's room are accepted and closed at once: a moment shows which.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return sockets;
}

/** The hub's log lines at error level or above. */
const errorLines = (output: string) => output.split('\n').filter((line) => /"level":(50|60)/.test(line));

describe.runIf(testServerUrl())(`hub serve on a server, out of open files`, () => {
  it('answers 503 with Retry-After while it cannot connect to the database, logs that once, and serves again once files are free', async () => {
    // Connections past the files left, as when the limit is set above what the process may open.
    const hub = await startLimitedHub({ HUB_MAX_CONNECTIONS: '1000000' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    try {
      // Connections opened before the flood, as a balancer keeps them, with the database's pool
      // not yet grown: twelve sign-ups at once need more database connections than it holds.
      expect(await Promise.all(Array.from({ length: 12 }, () => healthz(hub.port, agent)))).toEqual(Array(12).fill(200));
      const sockets = await flood(hub.port, 2 * DESCRIPTORS);
      const during = await Promise.all(Array.from({ length: 12 }, () => signUp(hub.port, agent)));
      sockets.forEach((socket) => socket.destroy());
      // Some may find a pooled connection; the others must say to come back, not that the hub failed.
      const refused = during.filter((answer) => answer.status !== 200 || answer.body.includes('"errors"'));
      expect(refused.length).toBeGreaterThan(0);
      for (const answer of refused) expect({ status: answer.status, retryAfter: answer.retryAfter }).toEqual({ status: 503, retryAfter: '5' });
      expect(errorLines(hub.output())).toEqual([]);
      expect(hub.output().match(/"msg":"database unreachable[^"]*"/g)).toHaveLength(1);

      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await Promise.all(Array.from({ length: 12 }, () => signUp(hub.port, agent)))).map((answer) => answer.status)).toEqual(Array(12).fill(200));
    } finally {
      agent.destroy();
      expect(await hub.stop()).toEqual([0, null]);
    }
  }, 30_000);
});

describe(`hub serve allowed ${DESCRIPTORS} open files, flooded with idle connections`, () => {
  it('takes no more than HUB_MAX_CONNECTIONS, so it keeps files for its database and serves the connections it holds, logging the refusals once', async () => {
    // Started under the limit at all: Node opens every file of a package's module graph at once.
    const hub = await startLimitedHub({ HUB_MAX_CONNECTIONS: '64' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    try {
      expect(await Promise.all(Array.from({ length: 12 }, () => healthz(hub.port, agent)))).toEqual(Array(12).fill(200));
      const sockets = await flood(hub.port, 2 * DESCRIPTORS);
      // Twelve held, 52 taken from the flood, the rest closed as they arrive.
      await expect.poll(() => sockets.filter((socket) => socket.destroyed || socket.readyState === 'closed').length).toBe(2 * DESCRIPTORS - 52);
      const during = await Promise.all(Array.from({ length: 12 }, () => signUp(hub.port, agent)));
      expect(during.map((answer) => [answer.status, answer.body.includes('"accessToken"')])).toEqual(Array(12).fill([200, true]));
      expect(errorLines(hub.output())).toEqual([]);
      expect(hub.output().match(/"msg":"connections refused[^"]*"/g)).toHaveLength(1);
      sockets.forEach((socket) => socket.destroy());

      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await fetch(`http://127.0.0.1:${hub.port}/readyz`)).status).toBe(200);
    } finally {
      agent.destroy();
      expect(await hub.stop()).toEqual([0, null]);
    }
  }, 30_000);
});
