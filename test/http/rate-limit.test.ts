import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub({ HUB_GRAPHQL_RATE_LIMIT: '1' });
});
afterAll(() => hub.close());

describe('GraphQL rate limits', () => {
  it('answers 429 with Retry-After and RATE_LIMITED past the limit of a caller', async () => {
    const user = await signUpUser(hub);
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push(await graphql(hub, '{ me { id } }', { token: user.accessToken }));
    expect(answers.slice(0, 59).every((a) => a.status === 200)).toBe(true);
    const limited = answers.at(-1)!;
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
  });

  it('counts each caller on its own, so one flood does not starve another at the same address', async () => {
    const other = await clientToken(hub, ['users:admin']);
    expect((await graphql(hub, '{ users(first: 1) { edges { cursor } } }', { token: other })).status).toBe(200);
  });
});
