import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import pg from 'pg';
import { request } from 'undici';
import { openDatabase, type DatabaseHandle, type Db } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { loadConfig } from '../../src/config.js';
import { KeyStore } from '../../src/oauth/key-store.js';
import { createTokenService } from '../../src/oauth/token.service.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';

/**
 * Benchmarks run on a PostgreSQL server: BENCH_DATABASE_URL, or a `hub_bench` database on the local
 * server, created when missing. The raw-SQL floor and the hub read the same data.
 */
export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/hub_bench';

/** How long each measurement runs, in seconds (BENCH_SECONDS). */
export const BENCH_SECONDS = Number(process.env.BENCH_SECONDS || 10);

/**
 * The key both the hub process and the bench use, so the bench can sign operator tokens. Fixed,
 * so the keys a bench database keeps stay readable across runs: for benchmarks only.
 */
export const BENCH_KEY_ENCRYPTION_KEY = process.env.BENCH_KEY_ENCRYPTION_KEY || '62656e63682d6f6e6c792d6b65792d6e6f742d666f722d70726f64756374696f6e'.slice(0, 64);

/**
 * How long access tokens live on the hubs benchmarks start, in seconds, and so the operator tokens
 * a bench signs itself: longer than one run, and no longer than the hub accepts.
 */
export const BENCH_ACCESS_TOKEN_TTL = '3600';

export async function openBenchDatabase(): Promise<DatabaseHandle> {
  const url = new URL(BENCH_DATABASE_URL);
  const name = url.pathname.slice(1);
  const admin = new pg.Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await admin.query(`create database "${name.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  const database = openDatabase({ url: BENCH_DATABASE_URL, poolSize: 16 });
  await migrateToLatest(database.db);
  return database;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface HubProcess {
  readonly url: string;
  /** What its tokens name as issuer: production's https one, behind the proxy a bench leaves out. */
  readonly issuer: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

const BENCH_ISSUER = 'https://hub.bench.example';

/** How long `startHubProcess` waits for the hub to answer /readyz before it gives up. */
export const HUB_READY_WITHIN_MS = 60_000;

/** Starts `hub serve` in its own process on the bench database, as production runs it. */
export async function startHubProcess(env: Record<string, string> = {}): Promise<HubProcess> {
  // The port is free when picked, but the hub binds it only once started, seconds later on a busy
  // machine; meanwhile any other process may take it, as a listener or as the local port of an
  // outgoing connection. A start that finds it taken is tried again on another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startHubProcessOnce(env);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 3) throw error;
    }
  }
}

/** The hub exited before it was ready because another process had taken its port. */
class PortTakenError extends Error {}

async function startHubProcessOnce(env: Record<string, string>): Promise<HubProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/hub.js', 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      DATABASE_URL: BENCH_DATABASE_URL,
      HUB_KEY_ENCRYPTION_KEY: BENCH_KEY_ENCRYPTION_KEY,
      HUB_ISSUER: BENCH_ISSUER,
      HUB_ACCESS_TOKEN_TTL: BENCH_ACCESS_TOKEN_TTL,
      // A benchmark is one caller at the highest rate it can reach: no limit should stop it.
      HUB_GRAPHQL_RATE_LIMIT: '1000000',
      // An operator client the hub makes sure exists, so a new bench database never has one made
      // with a generated secret that the hub would print into the report.
      HUB_BOOTSTRAP_CLIENT_ID: 'agt_bench_operator',
      HUB_BOOTSTRAP_CLIENT_SECRET: 'bench-only-operator-secret-not-for-production',
      // Production requires the controller's details, which consent receipts carry.
      HUB_CONTROLLER_NAME: 'Bench Shop',
      HUB_CONTROLLER_CONTACT: 'Data Protection Officer',
      HUB_CONTROLLER_EMAIL: 'privacy@bench.example',
      HUB_CONTROLLER_PHONE: '+1 555 0100',
      HUB_CONTROLLER_ADDRESS: '{"streetAddress": "1 Bench Street", "addressCountry": "US"}',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  // Passed on as it comes, and kept until the hub is ready, to tell a taken port from other failures.
  let stderr = '';
  const keep = (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderr += chunk.toString('utf8');
  };
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + HUB_READY_WITHIN_MS;
  for (;;) {
    if (child.exitCode !== null) {
      await new Promise((resolve) => (child.stderr!.readableEnded ? resolve(undefined) : child.stderr!.once('end', resolve)));
      throw new (/EADDRINUSE/.test(stderr) ? PortTakenError : Error)(`the hub exited with ${child.exitCode}`);
    }
    try {
      if ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`the hub did not become ready within ${HUB_READY_WITHIN_MS / 1_000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.stderr!.off('data', keep).pipe(process.stderr);
  return {
    url,
    issuer: BENCH_ISSUER,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A running bench/lib/sql-relay.ts: `query` sends it a statement and resolves to its rows. */
export interface SqlRelay {
  query(text: string, values?: readonly unknown[]): Promise<unknown[]>;
  stop(): Promise<void>;
}

/** Starts bench/lib/sql-relay.ts in its own process on `databaseUrl`, as the hub runs in its own. */
export async function startSqlRelay(databaseUrl: string): Promise<SqlRelay> {
  const port = await freePort();
  const child = fork(new URL('./sql-relay.ts', import.meta.url), {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, PORT: String(port) },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the SQL relay exited with ${code}`)));
  });
  return {
    async query(text, values) {
      const response = await request(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify({ text, values }) });
      if (response.statusCode !== 200) throw new Error(`the SQL relay answered ${response.statusCode}: ${await response.body.text()}`);
      return (await response.body.json()) as unknown[];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The machine the figures were measured on, for the report. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** The machine's load averages over 1, 5 and 15 minutes: how busy others kept it during a run. */
export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(', ');
}

/**
 * Makes sure an operator-owned client with this id and ceiling exists and is active on the bench
 * database: the hub accepts a token only while its client is a live agent.
 */
export async function ensureBenchClient(db: Db, id: string, allowedScopes: readonly string[]): Promise<void> {
  await db
    .insertInto('agents')
    .values({ id, name: 'Bench client', kind: 'service', description: null, allowed_scopes: [...allowedScopes], owner_kind: 'operator', owner_user_id: null, parent_agent_id: null })
    .onConflict((oc) => oc.column('id').doUpdateSet({ allowed_scopes: [...allowedScopes], status: 'active', expires_at: null }))
    .execute();
}

/**
 * A token of the bench client `id` (made or revived with `scope` as its ceiling) for `scope`, signed
 * with the hub's own key, read from the shared database. The key store it opens is closed again:
 * left open, it would go on rereading the keys from a database the bench closes.
 */
export async function benchClientToken(db: Db, hub: HubProcess, id: string, scope: readonly string[]): Promise<string> {
  const config = loadConfig({ HUB_ISSUER: hub.issuer, HUB_KEY_ENCRYPTION_KEY: BENCH_KEY_ENCRYPTION_KEY, HUB_ACCESS_TOKEN_TTL: BENCH_ACCESS_TOKEN_TTL });
  const keys = await KeyStore.open(db, config.keyEncryptionKey!, systemClock, config.accessTokenTtl, createLogger(config));
  try {
    await ensureBenchClient(db, id, scope);
    const tokens = createTokenService({ config, keys, clock: systemClock, db });
    return (await tokens.issueAccessToken({ sub: id, client_id: id, scope: scope.join(' ') })).accessToken;
  } finally {
    keys.close();
  }
}
