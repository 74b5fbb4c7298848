import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';
import { clientToken, graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await startTestHub();
  alice = await signUpUser(hub, { givenName: 'Alice' });
  bob = await signUpUser(hub, { givenName: 'Bob' });
  await hub.services.db
    .insertInto('orders')
    .values({ id: 'ord_bob', user_id: bob.id, placed_at: new Date(), total_minor: 500, currency: 'EUR', status: 'paid', line_items: '[]' })
    .execute();
});
afterAll(() => hub.close());

describe('one user never reads another', () => {
  it('answers user(id) for oneself', async () => {
    const response = await graphql(hub, 'query($id: ID!) { user(id: $id) { id givenName } }', { variables: { id: alice.id }, token: alice.accessToken });
    expect(response.data).toEqual({ user: { id: alice.id, givenName: 'Alice' } });
  });

  it("refuses user(id) for someone else's id, with NOT_SUBJECT and no data", async () => {
    const response = await graphql(hub, 'query($id: ID!) { user(id: $id) { id givenName email orders { edges { node { id } } } } }', {
      variables: { id: bob.id },
      token: alice.accessToken,
    });
    expect(response.data).toEqual({ user: null });
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
    expect(JSON.stringify(response)).not.toMatch(/Bob|ord_bob/);
  });

  it('refuses the user list to a user', async () => {
    const response = await graphql(hub, '{ users { edges { node { id } } } }', { token: alice.accessToken });
    expect(response.data).toBeNull();
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('answers me with the caller only, and anonymous callers with null', async () => {
    expect((await graphql(hub, '{ me { id } }', { token: bob.accessToken })).data).toEqual({ me: { id: bob.id } });
    expect((await graphql(hub, '{ me { id } }')).data).toEqual({ me: null });
  });

  it('refuses anonymous callers with UNAUTHENTICATED', async () => {
    const response = await graphql(hub, 'query($id: ID!) { user(id: $id) { id } }', { variables: { id: alice.id } });
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });
});

describe('operators', () => {
  it('list users with users:admin, each field still gated by its data scope', async () => {
    const token = await clientToken(hub, ['users:admin', 'profile:read', 'orders:read']);
    const response = await graphql<any>(hub, '{ users(first: 10) { edges { node { id country orders(first: 3) { edges { node { id } } } email } } } }', { token });
    const nodes = response.data.users.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => n.id)).toEqual(expect.arrayContaining([alice.id, bob.id]));
    expect(nodes.find((n: any) => n.id === bob.id).orders.edges).toEqual([{ node: { id: 'ord_bob' } }]);
    expect(nodes.every((n: any) => n.email === null)).toBe(true);
    expect(response.errors?.every((e) => e.extensions?.code === 'FORBIDDEN' && e.extensions.reason === 'MISSING_SCOPE' && e.path?.at(-1) === 'email')).toBe(true);
  });

  it('pages the user list without gaps or repeats, and filters it', async () => {
    const token = await clientToken(hub, ['users:admin', ...ALL_DATA_SCOPES]);
    const ids: string[] = [];
    let after: string | null = null;
    do {
      const response: any = await graphql(hub, 'query($after: String) { users(first: 1, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }', {
        token,
        variables: { after },
      });
      ids.push(...response.data.users.edges.map((e: any) => e.node.id));
      after = response.data.users.pageInfo.hasNextPage ? response.data.users.pageInfo.endCursor : null;
    } while (after && ids.length < 10);
    expect(ids).toEqual([alice.id, bob.id]);
    const filtered = await graphql<any>(hub, 'query($email: String) { users(filter: { email: $email }) { edges { node { id } } } }', { token, variables: { email: bob.email.toUpperCase() } });
    expect(filtered.data.users.edges).toEqual([{ node: { id: bob.id } }]);
  });

  it('reach no user by id without users:admin, whatever data scopes the token holds', async () => {
    const token = await clientToken(hub, ALL_DATA_SCOPES, 'agt_01J00000000000000000NOADMN');
    const response = await graphql(hub, 'query($id: ID!) { user(id: $id) { id givenName email orders { edges { node { id } } } } }', { variables: { id: bob.id }, token });
    expect(response.data).toEqual({ user: null });
    expect(response.errors?.map((e) => e.extensions)).toEqual([{ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' }]);
    expect(JSON.stringify(response)).not.toMatch(/Bob|ord_bob/);
  });

  it('cannot write a profile: updateProfile is for the user themself', async () => {
    const token = await clientToken(hub, ['users:admin', ...ALL_DATA_SCOPES]);
    const response = await graphql(hub, 'mutation { updateProfile(input: { givenName: "Eve" }) { id } }', { token });
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'NOT_SUBJECT' });
  });
});
