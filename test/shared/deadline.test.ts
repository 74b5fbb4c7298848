import { describe, expect, it } from 'vitest';
import { resolvedWithin } from '../../src/shared/deadline.js';

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('resolvedWithin', () => {
  it('leaves no timer behind once the step resolved, so a command that closes exits at once, not at the deadline', async () => {
    const before = timers();
    expect(await resolvedWithin(Promise.resolve(), 60_000)).toBe(true);
    expect(timers()).toBe(before);
  });

  it('answers false once the deadline passed first, and rejects as the step does', async () => {
    expect(await resolvedWithin(new Promise(() => {}), 10)).toBe(false);
    await expect(resolvedWithin(Promise.reject(new Error('refused')), 60_000)).rejects.toThrow('refused');
  });
});
