/**
 * A bounded, loopback-only mixed load: every workload runs at once, each from its own
 * connections, for LOAD_SECONDS (default 60) against one hub process, while its resident memory
 * is sampled. Reports each workload's rate, p50/p99 and errors, and the hub's peak memory.
 * Run: `npm run bench -- load` (BENCH_DATABASE_URL, LOAD_SECONDS).
 */
import { readFileSync } from 'node:fs';
import { markdownTable, measureHttp, type Figures, type HttpLoad, type Row } from './lib/measure.js';
import { machine, openBenchDatabase, startHubProcess, type HubProcess } from './lib/setup.js';
import { ME_QUERY, USERS_QUERY, ensureSeeded, expectData, operatorToken, signIn, userWithTenOrders } from './profile.js';

export const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
/** The hub's resident memory must stay under this through the run. */
export const MEMORY_GOAL_MB = 400;

/** Resident memory of a process now and at its peak, in MiB, from /proc (Linux). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1_024, peak: kib('VmHWM') / 1_024 };
}

/** The workloads of the mix, each a loopback HTTP load with its own connections. */
async function workloads(hub: HubProcess): Promise<Record<string, HttpLoad>> {
  const database = await openBenchDatabase();
  try {
    await ensureSeeded(database.db);
    const user = await userWithTenOrders(database.db);
    const userToken = await signIn(hub, user.email);
    const adminToken = await operatorToken(database.db, hub);
    await expectData(hub, ME_QUERY, userToken);
    const graphql = (query: string, token: string, connections: number): HttpLoad => ({
      url: `${hub.url}/graphql`,
      body: JSON.stringify({ query }),
      headers: { authorization: `Bearer ${token}` },
      connections,
      seconds: LOAD_SECONDS,
    });
    return {
      'profile reads (me)': graphql(ME_QUERY, userToken, 8),
      'profile updates': graphql('mutation { updateProfile(input: { preferences: { tags: ["load"] } }) { updatedAt } }', userToken, 2),
      'operator pages (users, 50 with orders)': graphql(USERS_QUERY, adminToken, 2),
    };
  } finally {
    await database.close();
  }
}

export async function benchLoad(): Promise<{ rows: Row[]; peakMb: number }> {
  const hub = await startHubProcess();
  try {
    const loads = await workloads(hub);
    let peakMb = memoryOf(hub.child.pid!).peak;
    const sampler = setInterval(() => (peakMb = Math.max(peakMb, memoryOf(hub.child.pid!).rss)), 250);
    const results = await Promise.all(Object.entries(loads).map(async ([workload, load]) => ({ workload, hub: await measureHttp(load) })));
    clearInterval(sampler);
    peakMb = Math.max(peakMb, memoryOf(hub.child.pid!).peak);
    const total: Figures = {
      rate: results.reduce((sum, r) => sum + r.hub.rate, 0),
      p50: Math.max(...results.map((r) => r.hub.p50)),
      p99: Math.max(...results.map((r) => r.hub.p99)),
      errors: results.reduce((sum, r) => sum + r.hub.errors, 0),
    };
    return { rows: [...results, { workload: 'all together (p50/p99: the slowest workload)', hub: total }], peakMb };
  } finally {
    await hub.stop();
  }
}

export function loadReport({ rows, peakMb }: { rows: Row[]; peakMb: number }): string {
  const memory = `Peak resident memory of the hub: ${peakMb.toFixed(0)} MiB (goal: under ${MEMORY_GOAL_MB} MiB) ${peakMb < MEMORY_GOAL_MB ? '✓' : '✗'}`;
  return `${markdownTable(rows)}\n\n${memory}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`\nMixed load for ${LOAD_SECONDS} s on ${machine()}\n\n${loadReport(await benchLoad())}`);
}
