import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

describe('a subscription operation', () => {
  it('is refused before it runs as the client’s mistake: 400 and BAD_USER_INPUT', async () => {
    const response = await graphql(hub, 'subscription S { __typename }');
    expect(response.status).toBe(400);
    expect(response.errors).toEqual([{ message: 'Subscriptions are not supported', extensions: { code: 'BAD_USER_INPUT' } }]);
    expect(response.data).toBeUndefined();
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('is refused when named among other operations, which still run', async () => {
    const document = 'query Q { __typename } subscription S { __typename }';
    const query = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: { query: document, operationName: 'Q' } });
    expect([query.statusCode, query.json()]).toEqual([200, { data: { __typename: 'Query' } }]);
    const subscription = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: { query: document, operationName: 'S' } });
    expect([subscription.statusCode, subscription.json()]).toEqual([400, { errors: [{ message: 'Subscriptions are not supported', extensions: { code: 'BAD_USER_INPUT' } }] }]);
  });
});
