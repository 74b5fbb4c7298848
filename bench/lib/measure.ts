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
  readonly connections?: number;
  readonly seconds?: number;
}

/** Drives a loopback HTTP endpoint with autocannon for a bounded time; non-2xx answers count as errors. */
export async function measureHttp(load: HttpLoad): Promise<Figures> {
  const result = await autocannon({
    url: load.url,
    method: load.method ?? 'POST',
    body: load.body,
    headers: { 'content-type': 'application/json', ...load.headers },
    connections: load.connections ?? 16,
    duration: load.seconds ?? 10,
  });
  return {
    rate: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
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
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { rate: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors };
}

export interface Row {
  readonly workload: string;
  readonly hub: Figures;
  readonly floor?: Figures;
  /** The goal as a minimum ratio of the hub's rate to the floor's. */
  readonly goal?: number;
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');

/** The rows as a Markdown table: rate, p50 and p99 beside the floor's, and the ratio against the goal. */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| workload | rate/s | p50 ms | p99 ms | floor rate/s | floor p50 ms | floor p99 ms | ratio | goal | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { workload, hub, floor, goal } of rows) {
    const ratio = floor ? hub.rate / floor.rate : NaN;
    const verdict = goal === undefined || !floor ? '' : ratio >= goal ? ` ≥ ${goal} ✓` : ` < ${goal} ✗`;
    lines.push(
      `| ${workload} | ${fmt(hub.rate)} | ${fmt(hub.p50, 1)} | ${fmt(hub.p99, 1)} | ${floor ? fmt(floor.rate) : '-'} | ${floor ? fmt(floor.p50, 1) : '-'} | ${floor ? fmt(floor.p99, 1) : '-'} | ${floor ? `${fmt(ratio, 2)}×` : '-'} | ${verdict.trim() || '-'} | ${hub.errors} |`,
    );
  }
  return lines.join('\n');
}
