import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, startTestHub } from '../helpers/hub.js';

// The GraphQL rate limit's one-minute windows are measured on the process's monotonic clock: the
// wall clock may be stepped (NTP, a virtual machine resumed) while the hub runs.

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub({ HUB_GRAPHQL_RATE_LIMIT: '1' });
});
afterEach(() => vi.useRealTimers());
afterAll(() => hub.close());

const CLIENT = 'agt_01J0000000000000000000STEP';

async function statuses(count: number): Promise<number[]> {
  // A token issued by the clock as it is now: one issued before a step back claims an `iat` ahead of it.
  const token = await clientToken(hub, ['users:admin'], CLIENT);
  const answers: number[] = [];
  for (let i = 0; i < count; i++) answers.push((await graphql(hub, '{ __typename }', { token })).status);
  return answers;
}

describe('GraphQL rate limit windows, when the wall clock steps', () => {
  it('ends a window a minute after it began, though the wall clock stepped back meanwhile', async () => {
    // Date and performance.now move with real time; a step of Date leaves performance.now as it is.
    vi.useFakeTimers({ toFake: ['Date', 'performance'], shouldAdvanceTime: true });
    expect(new Set(await statuses(40))).toEqual(new Set([200]));
    vi.setSystemTime(Date.now() - 10 * 60_000);
    vi.advanceTimersByTime(61_000);
    // A new window: its 60 requests are served.
    expect(new Set(await statuses(40))).toEqual(new Set([200]));
  });
});
