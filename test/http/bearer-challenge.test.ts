import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

describe('the Bearer challenge (RFC 6750 §3)', () => {
  it('answers a request without a token that needed one, naming the resource metadata (RFC 9728)', async () => {
    const response = await graphql(hub, '{ users(first: 1) { edges { cursor } } }');
    expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(response.headers['www-authenticate']).toBe(`Bearer realm="hub", resource_metadata="${hub.config.issuer}/.well-known/oauth-protected-resource/graphql"`);
    const metadata = await hub.http.inject({ method: 'GET', url: '/.well-known/oauth-protected-resource/graphql' });
    expect(metadata.statusCode).toBe(200);
  });

  it('is not sent when nothing was refused, nor to a request that carries a token', async () => {
    expect((await graphql(hub, '{ __typename }')).headers['www-authenticate']).toBeUndefined();
    const user = await signUpUser(hub);
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).headers['www-authenticate']).toBeUndefined();
  });
});
