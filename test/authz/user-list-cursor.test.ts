import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { encodeCursor } from '../../src/shared/pagination.js';
import { clientToken, graphql, signUpUser, startTestHub } from '../helpers/hub.js';

/**
 * `users` lists the oldest first, by `createdAt`: a profile field, which an operator reads only
 * with `profile:read` (or `profile.createdAt:read`). Its cursors must tell no more than its nodes.
 */
let hub: Hub;
let early: string;
let late: string;
const SIGNED_UP = { early: '2019-05-04T03:02:01.000Z', late: '2023-11-12T13:14:15.000Z' };

beforeAll(async () => {
  hub = await startTestHub();
  // Signed up in this order, so their ids sort the other way round from when they joined.
  late = (await signUpUser(hub)).id;
  early = (await signUpUser(hub)).id;
  // No code path changes when a user signed up: the column is written here as a migration would.
  for (const [id, at] of [[late, SIGNED_UP.late], [early, SIGNED_UP.early]] as const) {
    await sql`update users set created_at = ${new Date(at)} where id = ${id}`.execute(hub.services.db);
  }
});
afterAll(() => hub.close());

const PAGE = 'query($after: String, $first: Int) { users(first: $first, after: $after) { edges { cursor node { id createdAt } } pageInfo { hasNextPage endCursor } } }';
const decoded = (cursor: string) => Buffer.from(cursor, 'base64url').toString();

describe('the cursors of the user list', () => {
  it('tell an operator without profile read scope nothing of when a user signed up', async () => {
    const token = await clientToken(hub, ['users:admin']);
    const response = await graphql<any>(hub, PAGE, { token, variables: { first: 100 } });
    const edges = response.data.users.edges;
    // In id order (see user-list-order.test.ts), with createdAt refused.
    expect(edges.map((e: any) => e.node)).toEqual([early, late].sort().map((id) => ({ id, createdAt: null })));
    expect(new Set(response.errors?.map((e) => `${e.extensions?.code}/${e.extensions?.reason}`))).toEqual(new Set(['FORBIDDEN/MISSING_SCOPE']));
    const cursors = [...edges.map((e: any) => e.cursor), response.data.users.pageInfo.endCursor].map(decoded).join(' ');
    expect(cursors).not.toContain('2019-05-04');
    expect(cursors).not.toContain('2023-11-12');
  });

  it('select on no sign-up time the caller makes up', async () => {
    const token = await clientToken(hub, ['users:admin']);
    const forged = encodeCursor(['2020-01-01T00:00:00.000Z', '']);
    const response = await graphql<any>(hub, PAGE, { token, variables: { first: 100, after: forged } });
    expect(response.data).toBeNull();
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });

  it('still page through every user, oldest first', async () => {
    const token = await clientToken(hub, ['users:admin', 'profile:read']);
    const seen: { id: string; createdAt: string }[] = [];
    let after: string | null = null;
    do {
      const response: any = await graphql(hub, PAGE, { token, variables: { first: 1, after } });
      expect(response.errors).toBeUndefined();
      seen.push(...response.data.users.edges.map((e: any) => e.node));
      after = response.data.users.pageInfo.hasNextPage ? response.data.users.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual([
      { id: early, createdAt: SIGNED_UP.early },
      { id: late, createdAt: SIGNED_UP.late },
    ]);
  });
});
