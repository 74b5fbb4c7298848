import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { markdownTable, measureHttp, percentile } from '../../bench/lib/measure.js';

// The benchmarks' own arithmetic: what a report's p50 and p99 mean.
describe('percentile', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('is the nearest rank: p99 of 100 calls is the 99th, not the slowest', () => {
    expect(percentile(hundred, 0.99)).toBe(99);
    expect(percentile(hundred, 0.5)).toBe(50);
    expect(percentile(hundred, 0.07)).toBe(7);
    expect(percentile(hundred, 1)).toBe(100);
  });

  it('is the one value of one call, and NaN of none', () => {
    expect(percentile([4.2], 0.5)).toBe(4.2);
    expect(percentile([4.2], 0.99)).toBe(4.2);
    expect(percentile([], 0.5)).toBeNaN();
  });
});

describe('measureHttp', () => {
  it('counts and times only the answers served: an error answered fast is an error, not speed', async () => {
    // Of every three answers: one served after 8 ms, a 401 and a 200 with GraphQL errors at once.
    let n = 0;
    const server = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const kind = n++ % 3;
        if (kind === 0) setTimeout(() => response.writeHead(200).end('{"data":{"me":{"id":"usr_1"}}}'), 8);
        else if (kind === 1) response.writeHead(401).end('{"errors":[{"message":"no"}]}');
        else response.writeHead(200).end('{"errors":[{"message":"no"}],"data":null}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const served = (body: string) => !body.includes('"errors"') && body.includes('"data"');
      const figures = await measureHttp({ url: `http://127.0.0.1:${port}/`, body: '{}', connections: 3, seconds: 1, verifyBody: served });
      // Two in three answers failed: each counts once, and none in the rate or the latencies.
      expect(figures.errors).toBeGreaterThan(n * 0.6);
      expect(figures.errors).toBeLessThan(n * 0.7);
      expect(figures.rate).toBeLessThanOrEqual(n / 3 + 1);
      expect(figures.p50).toBeGreaterThanOrEqual(7);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('markdownTable', () => {
  const figures = (rate: number, errors = 0) => ({ rate, p50: 10, p99: 20, errors });
  const verdict = (table: string) => table.split('\n')[2]!.split('|').at(-3)!.trim();

  it('meets no goal when the hub or its floor had errors', () => {
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(900), floor: figures(1_000), goal: 0.85 }]))).toBe('≥ 0.85 ✓');
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(900, 3), floor: figures(1_000), goal: 0.85 }]))).toBe('≥ 0.85 ✗ (errors)');
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(900), floor: figures(1_000, 1), goal: 0.85 }]))).toBe('≥ 0.85 ✗ (errors)');
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(900, 3), floor: figures(1_000), p50Goal: 1.2, p50LimitMs: 100 }]))).toBe('p50 ≤ 1.2× ✗, < 100 ms ✗ (errors)');
  });

  it('judges nothing where there is no goal, errors or not', () => {
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(900, 3), floor: figures(1_000) }]))).toBe('-');
  });
});

describe('a rate goal', () => {
  const figures = (rate: number, errors = 0) => ({ rate, p50: 10, p99: 20, errors });
  const verdict = (table: string) => table.split('\n')[2]!.split('|').at(-3)!.trim();

  it('judges the hub’s own rate, whatever its floor’s', () => {
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(3_100), floor: figures(24_000), rateGoal: 3_000 }]))).toBe('≥ 3,000/s ✓');
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(1_900), floor: figures(7_500), rateGoal: 2_000 }]))).toBe('< 2,000/s ✗');
    expect(verdict(markdownTable([{ workload: 'w', hub: figures(3_100, 2), rateGoal: 3_000 }]))).toBe('≥ 3,000/s ✗ (errors)');
  });
});

it('shows the floor’s errors beside the hub’s', () => {
  const row = markdownTable([{ workload: 'w', hub: { rate: 1, p50: 1, p99: 1, errors: 0 }, floor: { rate: 1, p50: 1, p99: 1, errors: 4 }, goal: 0.5 }]).split('\n')[2]!;
  expect(row.split('|').at(-2)!.trim()).toBe('0 (floor: 4)');
});
