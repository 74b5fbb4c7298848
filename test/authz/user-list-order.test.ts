import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { encodeCursor } from '../../src/shared/pagination.js';
import { clientToken, graphql, signUpUser, startTestHub } from '../helpers/hub.js';

/**
 * `users` lists the oldest first: an order by `createdAt`, a profile field that an operator reads
 * only with `profile:read` (or `profile.createdAt:read`). User ids are random so that they tell
 * nothing of when someone signed up; the order of the list must not tell it either.
 */
let hub: Hub;
/** Ids in id order, each signed up later than the one after it. */
let byId: string[];

beforeAll(async () => {
  hub = await startTestHub();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await signUpUser(hub)).id);
  byId = [...ids].sort();
  // The later the id sorts, the earlier its user signed up: the two orders are each other's reverse.
  for (const [i, id] of byId.entries()) {
    await sql`update users set created_at = ${new Date(Date.UTC(2024, 0, 10 - i))} where id = ${id}`.execute(hub.services.db);
  }
});
afterAll(() => hub.close());

const PAGE = 'query($after: String, $first: Int) { users(first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }';
const idsOf = (response: any): string[] => response.data.users.edges.map((e: any) => e.node.id);

describe('the order of the user list', () => {
  it('tells an operator without profile read scope nothing of when users signed up', async () => {
    const token = await clientToken(hub, ['users:admin']);
    expect(idsOf(await graphql(hub, PAGE, { token, variables: { first: 100 } }))).toEqual(byId);
    // Nor does a page after a user: it is the users whose id sorts after, not those who signed up after.
    expect(idsOf(await graphql(hub, PAGE, { token, variables: { first: 100, after: encodeCursor([byId[1]!]) } }))).toEqual(byId.slice(2));
  });

  it('pages an operator without profile read scope through every user once', async () => {
    const token = await clientToken(hub, ['users:admin']);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const response: any = await graphql(hub, PAGE, { token, variables: { first: 2, after } });
      seen.push(...idsOf(response));
      after = response.data.users.pageInfo.hasNextPage ? response.data.users.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual(byId);
  });

  it('is oldest first for an operator who reads when users signed up', async () => {
    for (const scopes of [['users:admin', 'profile:read'], ['users:admin', 'profile.createdAt:read']]) {
      const token = await clientToken(hub, scopes);
      expect(idsOf(await graphql(hub, PAGE, { token, variables: { first: 100 } })), scopes.join(' ')).toEqual([...byId].reverse());
    }
  });
});
