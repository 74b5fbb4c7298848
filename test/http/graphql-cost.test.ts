import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';
import { clientToken, graphql, startTestHub } from '../helpers/hub.js';

let hub: Hub;
let token: string;
beforeAll(async () => {
  hub = await startTestHub();
  token = await clientToken(hub, ['users:admin', ...ALL_DATA_SCOPES]);
});
afterAll(() => hub.close());

const NESTED = 'query($users: Int, $orders: Int) { users(first: $users) { edges { node { id orders(first: $orders) { edges { node { id totalMinor currency status placedAt } } } } } } }';

describe('the cost limit counts list sizes', () => {
  it('answers a nested page within the limit', async () => {
    const response = await graphql(hub, NESTED, { token, variables: { users: 50, orders: 10 } });
    expect(response.errors).toBeUndefined();
  });

  it('refuses nested pages past the limit given as literals, before anything runs', async () => {
    const literal = '{ users(first: 100) { edges { node { id orders(first: 100) { edges { node { id totalMinor currency status placedAt } } } } } } }';
    const response = await graphql(hub, literal, { token });
    expect(response.status).toBe(400);
    expect(response.errors?.[0]).toMatchObject({ message: expect.stringMatching(/Query Cost limit of 20000 exceeded/), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('refuses the same pages given as variables', async () => {
    const response = await graphql(hub, NESTED, { token, variables: { users: 100, orders: 100 } });
    expect(response.status).toBe(400);
    expect(response.data).toBeUndefined();
    expect(response.errors?.[0]).toMatchObject({ message: expect.stringMatching(/Query Cost limit of 20000 exceeded/), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('counts a page-size variable left out as the largest page', async () => {
    const response = await graphql(hub, NESTED, { token, variables: {} });
    expect(response.status).toBe(400);
  });
});
