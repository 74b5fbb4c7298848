import autocannon from 'autocannon';

/** One workload's figures: requests (or queries) per second and latency percentiles in ms. */
export interface Figures {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

export interface HttpLoad {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /**
   * Headers each connection sends besides `headers`, the i-th connection the i-th (in turn when
   * there are more connections): a token of its own, for a load of several users at once.
   */
  readonly connectionHeaders?: readonly Record<string, string>[];
  readonly connections?: number;
  readonly seconds?: number;
  /** Checks each answer's body; one it refuses counts as an error. */
  readonly verifyBody?: (body: string) => boolean;
}

/** A GraphQL answer counts as served only with data and no error, whatever its status. */
export const graphqlServed = (body: string) => !body.includes('"errors"') && body.includes('"data"');

/** A token endpoint's answer counts as served only with a token. */
export const tokenServed = (body: string) => body.includes('"access_token"');

/**
 * The `q` quantile of ascending `sorted` by nearest rank: the least value that at least `q` of them
 * do not exceed (p99 of 100 values is the 99th, not the largest). NaN when there are none.
 */
export function percentile(sorted: readonly number[], q: number): number {
  // Less a rounding error's worth, so that 0.07 × 100 (7.000000000000001 in binary) ranks 7th.
  return sorted[Math.max(0, Math.ceil(q * sorted.length - 1e-9) - 1)] ?? NaN;
}

/**
 * Drives a loopback HTTP endpoint with autocannon for a bounded time. Only an answer served (2xx,
 * and accepted by `verifyBody` when given) counts toward the rate and the latencies: autocannon
 * counts every answer in its rate and times non-2xx ones too, so an endpoint that failed fast
 * would look fast. Every other answer, socket error and timeout is an error, once.
 */
export async function measureHttp(load: HttpLoad): Promise<Figures> {
  const served: number[] = [];
  // A client reports each answer ('response') just before autocannon checks its body, in one tick.
  let answer: { status: number; ms: number } | undefined;
  const headers = { 'content-type': 'application/json', ...load.headers };
  let connection = 0;
  const result = await autocannon({
    url: load.url,
    method: load.method ?? 'POST',
    body: load.body,
    headers,
    connections: load.connections ?? 16,
    duration: load.seconds ?? 10,
    setupClient: (client) => {
      const own = load.connectionHeaders?.[connection++ % load.connectionHeaders.length];
      if (own) client.setHeaders({ ...headers, ...own });
      client.on('response', (status: number, _bytes: number, ms: number) => (answer = { status, ms }));
    },
    verifyBody: (body) => {
      const ok = load.verifyBody?.(String(body ?? '')) ?? true;
      if (ok && answer && answer.status >= 200 && answer.status < 300) served.push(answer.ms);
      answer = undefined;
      return ok;
    },
  });
  served.sort((a, b) => a - b);
  return {
    rate: served.length / result.duration,
    p50: percentile(served, 0.5),
    p99: percentile(served, 0.99),
    // autocannon counts a timeout among its errors too.
    errors: result.errors + (result.requests.total - served.length),
  };
}

/** How long `warmUpHttp` drives a load untimed, in seconds. */
export const WARM_UP_SECONDS = 3;

/**
 * Drives `load` untimed for WARM_UP_SECONDS: V8 optimizes the hub's code paths, its pools open
 * their connections and its caches fill before measureHttp times any of it, as measurePaired's
 * warm-up does. Needed wherever one process serves two loads in turn, or the second is timed warm
 * and the first cold.
 */
export async function warmUpHttp(load: HttpLoad): Promise<void> {
  await measureHttp({ ...load, seconds: WARM_UP_SECONDS });
}

/**
 * The floor: `run` called by `concurrency` loops for `seconds`, each call timed. The same shape
 * of load as measureHttp's connections, without HTTP or GraphQL in the way.
 */
export async function measureCalls(run: () => Promise<unknown>, options: { concurrency?: number; seconds?: number } = {}): Promise<Figures> {
  const { concurrency = 16, seconds = 10 } = options;
  const deadline = performance.now() + seconds * 1_000;
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await run();
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / elapsed, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), errors };
}

/** Untimed calls of each side before measurePaired times any: V8 optimizes the code paths first. */
const WARM_UP_CALLS = 20;

/**
 * Two workloads measured side by side, one request at a time: calls alternate between them for
 * `seconds`, so both meet the same load from whatever else runs on the machine, and a burst of
 * it cannot favour one. For a hub beside its floor on a shared machine. Both are warmed up first,
 * as a server that has run for a while is.
 */
export async function measurePaired(a: () => Promise<unknown>, b: () => Promise<unknown>, seconds = 10): Promise<[Figures, Figures]> {
  for (let i = 0; i < WARM_UP_CALLS; i++) {
    await a().catch(() => {});
    await b().catch(() => {});
  }
  const deadline = performance.now() + seconds * 1_000;
  const runs = [{ run: a, latencies: [] as number[], errors: 0 }, { run: b, latencies: [] as number[], errors: 0 }];
  const started = performance.now();
  for (let i = 0; performance.now() < deadline; i++) {
    const side = runs[i % 2]!;
    const t0 = performance.now();
    try {
      await side.run();
      side.latencies.push(performance.now() - t0);
    } catch {
      side.errors++;
    }
  }
  const elapsed = (performance.now() - started) / 1_000;
  return runs.map(({ latencies, errors }) => {
    latencies.sort((x, y) => x - y);
    // Each side had the machine for about half the time: its rate is per second of its own calls.
    const own = latencies.reduce((sum, ms) => sum + ms, 0) / 1_000 || elapsed;
    return { rate: latencies.length / own, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), errors };
  }) as [Figures, Figures];
}

export interface Row {
  readonly workload: string;
  readonly hub: Figures;
  readonly floor?: Figures;
  /** The goal as a minimum ratio of the hub's rate to the floor's. */
  readonly goal?: number;
  /** The goal as the most the hub's p50 may be, as a multiple of the floor's (1.2: at most 20% slower). */
  readonly p50Goal?: number;
  /** The most the hub's p50 may be, in ms. */
  readonly p50LimitMs?: number;
  /** The least the hub's rate may be, per second, whatever its floor's. */
  readonly rateGoal?: number;
  /** Show the ratio of p50s (as p50Goal does) without a goal to judge it by. */
  readonly p50Ratio?: boolean;
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');

/**
 * The rows as a Markdown table: rate, p50 and p99 beside the floor's, and the ratio against the goal,
 * which a row with errors (the hub's or the floor's) never meets.
 */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| workload | rate/s | p50 ms | p99 ms | floor rate/s | floor p50 ms | floor p99 ms | ratio | goal | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { workload, hub, floor, goal, p50Goal, p50LimitMs, p50Ratio, rateGoal } of rows) {
    let ratio = floor ? `${fmt(hub.rate / floor.rate, 2)}×` : '-';
    let verdict = goal === undefined || !floor ? '-' : hub.rate / floor.rate >= goal ? `≥ ${goal} ✓` : `< ${goal} ✗`;
    if ((p50Goal !== undefined || p50Ratio) && floor) ratio = `p50 ${fmt(hub.p50 / floor.p50, 2)}×`;
    if (p50Goal !== undefined && floor) verdict = hub.p50 / floor.p50 <= p50Goal ? `p50 ≤ ${p50Goal}× ✓` : `p50 > ${p50Goal}× ✗`;
    if (p50LimitMs !== undefined) verdict += hub.p50 < p50LimitMs ? `, < ${p50LimitMs} ms ✓` : `, ≥ ${p50LimitMs} ms ✗`;
    if (rateGoal !== undefined) verdict = `${verdict === '-' ? '' : `${verdict}, `}${hub.rate >= rateGoal ? `≥ ${fmt(rateGoal)}/s ✓` : `< ${fmt(rateGoal)}/s ✗`}`;
    // A run with errors on either side did not compare like with like: it meets no goal.
    const errors = hub.errors + (floor?.errors ?? 0);
    if (errors > 0 && verdict !== '-') verdict = `${verdict.replaceAll('✓', '✗')} (errors)`;
    lines.push(
      `| ${workload} | ${fmt(hub.rate)} | ${fmt(hub.p50, 1)} | ${fmt(hub.p99, 1)} | ${floor ? fmt(floor.rate) : '-'} | ${floor ? fmt(floor.p50, 1) : '-'} | ${floor ? fmt(floor.p99, 1) : '-'} | ${ratio} | ${verdict} | ${hub.errors}${floor?.errors ? ` (floor: ${floor.errors})` : ''} |`,
    );
  }
  return lines.join('\n');
}
