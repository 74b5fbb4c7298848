import { afterEach, describe, expect, it, vi } from 'vitest';
import { isId, newId } from '../../src/shared/ids.js';

afterEach(() => vi.useRealTimers());

describe('newId', () => {
  it('makes ids of the kind, in the order they were made', () => {
    const ids = Array.from({ length: 1_000 }, () => newId('evt'));
    expect(ids.every((id) => isId('evt', id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('draws the random part of each new millisecond uniformly from the 32 characters', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const counts = new Map<string, number>();
    // 2,000 milliseconds after any id made before (a ULID made in the same or an earlier one is the
    // last one plus 1) of 16 random characters: 32,000 draws, several refills of the pool.
    for (let i = 0; i < 2_000; i++) {
      vi.setSystemTime(4_000_000_000_000 + i);
      for (const char of newId('evt').slice(-16)) counts.set(char, (counts.get(char) ?? 0) + 1);
    }
    expect(counts.size).toBe(32);
    // 1,000 expected each; a deviation of 200 is over six standard deviations.
    for (const count of counts.values()) expect(Math.abs(count - 1_000)).toBeLessThan(200);
  });

  it('draws each character of a user id uniformly from the 32 characters', () => {
    const counts = new Map<string, number>();
    // 1,250 ids of 26 random characters: 32,500 draws.
    for (let i = 0; i < 1_250; i++) for (const char of newId('usr').slice(4)) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(32);
    // About 1,016 expected each; a deviation of 200 is over six standard deviations.
    for (const count of counts.values()) expect(Math.abs(count - 32_500 / 32)).toBeLessThan(200);
  });
});

describe('isId', () => {
  it('takes only the kind’s prefix and 26 characters of Crockford’s base32, in capitals', () => {
    const id = newId('usr');
    expect(isId('usr', id)).toBe(true);
    expect(isId('agt', id)).toBe(false);
    expect(isId('usr', id.toLowerCase())).toBe(false);
    expect(isId('usr', id.slice(0, -1))).toBe(false);
    expect(isId('usr', `${id}0`)).toBe(false);
    // The letters Crockford's base32 leaves out, as they read like digits or another letter.
    for (const letter of 'ILOU') expect(isId('usr', `${id.slice(0, -1)}${letter}`), letter).toBe(false);
  });
});
