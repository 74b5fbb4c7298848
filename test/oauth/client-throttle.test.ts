import { describe, expect, it } from 'vitest';
import { ClientThrottle } from '../../src/oauth/client-throttle.js';

const ADDRESS = '198.51.100.20';

/** How many requests the bucket lets through at `nowMs`, taking until one is refused. */
function drain(throttle: ClientThrottle, clientId: string | undefined, nowMs: number): number {
  let allowed = 0;
  while (throttle.take(clientId, ADDRESS, nowMs).allowed) allowed += 1;
  return allowed;
}

describe('a client throttle’s bucket', () => {
  it('allows bursts of at most `rate`, however long it was left alone', () => {
    const throttle = new ClientThrottle(5);
    expect(drain(throttle, 'agt_a', 0)).toBe(5);
    expect(drain(throttle, 'agt_a', 3_600_000)).toBe(5);
  });

  it('remembers a client that authenticated from an address whose bucket it had spent from already', () => {
    const throttle = new ClientThrottle(5);
    throttle.take('agt_a', ADDRESS, 0);
    expect(throttle.hasAuthenticated('agt_a', ADDRESS)).toBe(false);
    throttle.markAuthenticated('agt_a', ADDRESS, 0);
    expect(throttle.hasAuthenticated('agt_a', ADDRESS)).toBe(true);
    expect(throttle.hasAuthenticated('agt_b', ADDRESS)).toBe(false);
  });
});
