import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { claimsOf } from '../helpers/oauth.js';

const TTL = 60;

describe('an access token verified on an earlier request', () => {
  const clock = fixedClock('2030-01-01T00:00:00Z');
  let hub: Hub;
  beforeAll(async () => {
    hub = await createHub(loadConfig({ ...TEST_ENV, HUB_ACCESS_TOKEN_TTL: String(TTL) }), { database: await createTestDatabase(), clock });
  });
  afterAll(() => hub.close());

  it('is refused from the second it expires, as one never seen before would be', async () => {
    const user = await signUpUser(hub);
    const me = () => graphql<{ me: { id: string } | null }>(hub, '{ me { id } }', { token: user.accessToken });
    expect((await me()).data).toEqual({ me: { id: user.id } });

    clock.set(new Date(claimsOf(user.accessToken).exp * 1_000 - 1_000));
    expect((await me()).data).toEqual({ me: { id: user.id } });

    clock.set(new Date(claimsOf(user.accessToken).exp * 1_000));
    const refused = await me();
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token", error_description="token expired"');
  });
});
