import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const AUDIENCE = 'query($filter: AudienceFilter) { audience(purpose: "email_marketing", filter: $filter, first: 1) { edges { node { id } } } }';

describe('text PostgreSQL cannot store', () => {
  it('is refused as bad input when a variable carries an unpaired surrogate, at any depth', async () => {
    const marketing = await clientToken(hub, ['audience:read', 'profile:read', 'preferences:read'], 'agt_01J0000000000000000000TEXT');
    for (const [interests, at] of [[['\ud800'], 'filter.interestsAny[0]'], [['ok', 'x\udfffy'], 'filter.interestsAny[1]']] as const) {
      const response = await graphql(hub, AUDIENCE, { token: marketing, variables: { filter: { interestsAny: interests } } });
      expect(response.status).toBe(400);
      expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
      // Named, as GraphQL names a variable it cannot coerce: among many strings, the client finds the one.
      expect(response.errors?.[0]?.message).toBe(`Variable "$filter" at "${at}": strings may not contain U+0000 or unpaired surrogates`);
    }
    // A paired surrogate is text PostgreSQL stores: it reaches the filter's own rules, which an
    // interest of an emoji does not meet, as in a profile.
    const paired = await graphql(hub, AUDIENCE, { token: marketing, variables: { filter: { interestsAny: ['\ud83d\ude00'] } } });
    expect(paired.status).toBe(200);
    expect(paired.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'filter.interestsAny.0' });
  });

  it('is refused as bad input when a string literal of the document carries U+0000', async () => {
    const response = await graphql(hub, 'mutation { signIn(input: { email: "a@example.com", password: "long enough \\u0000 password" }) { accessToken } }');
    expect(response.status).toBe(400);
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });
});
