import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { OPERATOR_SCOPES } from '../../src/authz/principal.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';
import { FRONTEND_CLIENT_ID } from '../../src/oauth/token.service.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

/**
 * Operator scopes are a client's (API.md): a token of a user that carried them, signed by the
 * hub's own key, is one the hub never issues, and its operator scopes open nothing.
 */
describe('operator scopes on a user’s token', () => {
  let hub: Hub;
  let token: string;

  beforeAll(async () => {
    hub = await startTestHub();
    const user = await signUpUser(hub);
    const scope = [...ALL_DATA_SCOPES, ...OPERATOR_SCOPES].join(' ');
    token = (await hub.services.tokens.issueAccessToken({ sub: user.id, client_id: FRONTEND_CLIENT_ID, scope })).accessToken;
  });
  afterAll(() => hub.close());

  it.each([
    ['users:admin', '{ users(first: 1) { edges { node { id } } } }'],
    ['audience:read', '{ audience(purpose: "email_marketing", first: 0) { totalCount } }'],
    ['audit:read', '{ auditEvents(first: 1) { edges { node { id } } } }'],
    ['agents:admin', '{ accessReview { __typename } }'],
    ['webhooks:admin', '{ webhookEventTypes }'],
    ['consents:admin', 'mutation { definePurpose(input: { key: "mallory", title: "m", description: "m", lawfulBasis: CONSENT, dataCategories: ["profile"], noticeUrl: "https://shop.example/n", noticeText: "n" }) { version } }'],
  ])('%s opens nothing: %s', async (_scope, query) => {
    const response = await graphql(hub, query, { token });
    expect(response.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(Object.values(response.data ?? {}).filter((value) => value !== null)).toEqual([]);
  });

  it('reads no metrics', async () => {
    const response = await hub.http.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
    expect(response.statusCode).toBe(403);
  });
});
