import { describe, expect, it } from 'vitest';
import { percentile } from '../../bench/lib/measure.js';

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
