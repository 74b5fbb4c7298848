import type { Randomizer } from '@faker-js/faker';
import { ulid } from 'ulidx';
import { randomCrockford } from '../shared/ids.js';

/** Picks from a fixed table of weights in O(log n); weights need not sum to 1. */
export class Weighted<T> {
  private readonly cumulative: number[] = [];
  private readonly values: T[] = [];
  constructor(table: ReadonlyArray<readonly [T, number]>) {
    let sum = 0;
    for (const [value, weight] of table) {
      this.values.push(value);
      this.cumulative.push((sum += weight));
    }
    this.cumulative = this.cumulative.map((c) => c / sum);
  }
  pick(u: number): T {
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (u < this.cumulative[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return this.values[lo]!;
  }
}

/** The sampling a generated customer needs, all driven by one seeded PRNG. */
export class Random {
  constructor(private readonly randomizer: Randomizer) {}
  readonly next = (): number => this.randomizer.next();
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  weighted<T>(table: Weighted<T>): T {
    return table.pick(this.next());
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(this.next() * 10);
    return s;
  }
  /** Up to `max` distinct items, in the order of `items`. */
  subset<T>(items: readonly T[], max: number): T[] {
    const count = this.int(0, max);
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(Math.floor(this.next() * items.length));
    return [...chosen].sort((a, b) => a - b).map((i) => items[i]!);
  }
  /** A user id's random part (`newId('usr')`), from this generator. */
  userIdPart(): string {
    return randomCrockford(26, Uint8Array.from({ length: 26 }, () => Math.floor(this.next() * 256)));
  }
  /** A ULID at `time`, whose random part comes from this generator. */
  ulid(time: Date): string {
    return ulid(time.getTime(), this.next);
  }
}
