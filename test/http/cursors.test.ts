import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { BadUserInputError } from '../../src/shared/errors.js';
import { decodeCursor, encodeCursor } from '../../src/shared/pagination.js';
import { graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';
import { startWebhookHub, subscribe, type TestClock } from '../webhooks/webhook-hub.js';

let hub: Hub;
let clock: TestClock;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let assistantId: string;

/** Two or more rows, a second apart, in every list that pages on a timestamp and an id. */
beforeAll(async () => {
  ({ hub, clock } = await startWebhookHub());
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  clock.advance(1);
  await signUpUser(hub);
  await hub.services.db
    .insertInto('orders')
    .values(
      [1, 2].map((day) => ({
        id: `ord_${day}`,
        user_id: alice.id,
        placed_at: new Date(Date.UTC(2026, 0, day)),
        total_minor: 1000,
        currency: 'EUR',
        status: 'paid' as const,
        line_items: '[]',
      })),
    )
    .execute();
  assistantId = (await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read', 'preferences:read'] })).id;
  await giveConsent(hub, alice.accessToken, { agentId: assistantId, scopes: ['orders:read'] });
  clock.advance(1);
  await giveConsent(hub, alice.accessToken, { purpose: 'personalization', agentId: assistantId, scopes: ['preferences:read'] });
  await subscribe(hub, admin, 'http://127.0.0.1:8/a', ['consent.given']);
  clock.advance(1);
  await subscribe(hub, admin, 'http://127.0.0.1:8/b', ['consent.given']);
});
afterAll(() => hub.close());

interface Connection {
  readonly name: string;
  /** The field of the list, with `$first` and `$after` passed on, wrapped in its parents. */
  readonly field: (list: string) => string;
  readonly path: readonly string[];
  readonly token: () => string;
  /** The name its cursors carry (`encodeCursor`), where its key has the shape of another list's. */
  readonly list?: string;
}

const CONNECTIONS: readonly Connection[] = [
  { name: 'User.orders', field: (list) => `me { orders${list} }`, path: ['me', 'orders'], token: () => alice.accessToken, list: 'orders' },
  { name: 'User.accessLog', field: (list) => `me { accessLog${list} }`, path: ['me', 'accessLog'], token: () => alice.accessToken, list: 'auditEvents' },
  { name: 'users', field: (list) => `users${list}`, path: ['users'], token: () => admin },
  { name: 'agents', field: (list) => `agents${list}`, path: ['agents'], token: () => admin, list: 'agents' },
  { name: 'Agent.consents', field: (list) => `agent(id: "${assistantId}") { consents${list} }`, path: ['agent', 'consents'], token: () => admin, list: 'agentConsents' },
  { name: 'auditEvents', field: (list) => `auditEvents${list}`, path: ['auditEvents'], token: () => admin, list: 'auditEvents' },
  { name: 'webhookSubscriptions', field: (list) => `webhookSubscriptions${list}`, path: ['webhookSubscriptions'], token: () => admin, list: 'webhookSubscriptions' },
];

interface Page {
  readonly edges: { node: { id: string } }[];
  readonly pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

async function page(connection: Connection, variables: { first?: number; after?: string }) {
  const query = `query($first: Int, $after: String) { ${connection.field('(first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }')} }`;
  const response = await graphql<Record<string, unknown>>(hub, query, { token: connection.token(), variables });
  const list = connection.path.reduce<unknown>((at, key) => (at as Record<string, unknown> | null | undefined)?.[key], response.data) as Page | null | undefined;
  return { response, list };
}

const ids = (list: Page | null | undefined) => list?.edges.map((e) => e.node.id) ?? [];

/** Timestamp parts a client could forge; each used to reach the database as a value it rejects, or one the hub never encodes. */
const FORGED_TIMESTAMPS: readonly [string, unknown][] = [
  ['text', 'not a date'],
  ['a number', 1767225600000],
  ['a date without a time', '2026-01-01'],
  ['a day that does not exist', '2026-02-30T00:00:00.000Z'],
  ['year 0', '0000-01-01T00:00:00.000Z'],
  ['the last instant a Date holds', '+275760-09-13T00:00:00.000Z'],
  ['the first instant a Date holds', '-271821-04-20T00:00:00.000Z'],
];

describe('cursors of lists ordered by time', () => {
  it.each(CONNECTIONS.map((connection) => [connection.name, connection] as const))('%s pages on from a cursor it made, neither repeating nor skipping', async (_name, connection) => {
    const first = await page(connection, { first: 1 });
    expect(first.response.errors).toBeUndefined();
    expect(first.list?.pageInfo.hasNextPage).toBe(true);
    const all = ids((await page(connection, { first: 100 })).list);
    const next = await page(connection, { first: 1, after: first.list!.pageInfo.endCursor! });
    expect(next.response.errors).toBeUndefined();
    expect(ids(next.list)).toEqual([all[all.indexOf(ids(first.list)[0]!) + 1]]);
  });

  it.each(CONNECTIONS.map((connection) => [connection.name, connection] as const))('%s has the pageInfo of the Relay specification: startCursor the first edge’s, hasPreviousPage', async (_name, connection) => {
    const query = `query($first: Int) { ${connection.field('(first: $first) { edges { cursor } pageInfo { hasPreviousPage hasNextPage startCursor endCursor } }')} }`;
    const pageOf = async (first: number) => {
      const response = await graphql<Record<string, unknown>>(hub, query, { token: connection.token(), variables: { first } });
      expect(response.errors).toBeUndefined();
      return connection.path.reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], response.data) as { edges: { cursor: string }[]; pageInfo: Record<string, unknown> };
    };
    const two = await pageOf(2);
    expect(two.pageInfo).toEqual({ hasPreviousPage: false, hasNextPage: expect.any(Boolean), startCursor: two.edges[0]!.cursor, endCursor: two.edges[1]!.cursor });
    expect((await pageOf(0)).pageInfo).toEqual({ hasPreviousPage: false, hasNextPage: true, startCursor: null, endCursor: null });
  });

  // The audit trail grows as it is read; the other lists hold still while the test pages them.
  it.each(CONNECTIONS.filter((c) => c.list !== 'auditEvents').map((connection) => [connection.name, connection] as const))(
    '%s says no page follows one that ends on its last row',
    async (_name, connection) => {
      const count = ids((await page(connection, { first: 100 })).list).length;
      expect(count).toBeGreaterThanOrEqual(2);
      expect((await page(connection, { first: count })).list?.pageInfo.hasNextPage).toBe(false);
      expect((await page(connection, { first: count - 1 })).list?.pageInfo.hasNextPage).toBe(true);
      const rest = await page(connection, { first: 1, after: (await page(connection, { first: count - 1 })).list!.pageInfo.endCursor! });
      expect({ rows: ids(rest.list).length, hasNextPage: rest.list?.pageInfo.hasNextPage }).toEqual({ rows: 1, hasNextPage: false });
    },
  );

  it.each(CONNECTIONS.map((connection) => [connection.name, connection] as const))('%s answers BAD_USER_INPUT for the cursor of every other list', async (_name, connection) => {
    // User.accessLog is the audit trail's list, for one user: the two share their cursors.
    for (const other of CONNECTIONS.filter((c) => c.list !== connection.list)) {
      const cursor = (await page(other, { first: 1 })).list!.pageInfo.endCursor!;
      const { response } = await page(connection, { after: cursor });
      expect({ from: other.name, extensions: response.errors?.[0]?.extensions }).toEqual({ from: other.name, extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
    }
  });

  it.each(CONNECTIONS.flatMap((connection) => FORGED_TIMESTAMPS.map(([what, part]) => [connection.name, what, connection, part] as const)))(
    '%s answers BAD_USER_INPUT for a cursor whose timestamp is %s',
    async (_name, _what, connection, part) => {
      const { response, list } = await page(connection, { after: encodeCursor([part as string, 'usr_01J00000000000000000000000'], connection.list) });
      expect(list ?? null).toBeNull();
      expect(response.errors).toHaveLength(1);
      expect(response.errors?.[0]).toMatchObject({ path: connection.path, extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
    },
  );

  it.each(CONNECTIONS.map((connection) => [connection.name, connection] as const))('%s answers BAD_USER_INPUT for a cursor whose id holds U+0000, which PostgreSQL text cannot', async (_name, connection) => {
    const { response } = await page(connection, { after: encodeCursor(['2026-01-01T00:00:00.000Z', 'usr_\u0000'], connection.list) });
    expect(response.errors?.[0]).toMatchObject({ path: connection.path, extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
  });
});

describe('the length of a cursor', () => {
  const users = CONNECTIONS.find((c) => c.name === 'users')!;
  /** A cursor of `users` with the same key as `cursor`, its JSON spaced out to `bytes` bytes: base64url of 384 bytes is 512 characters, of 385 bytes 514. */
  const spacedTo = (cursor: string, bytes: number) => {
    const json = Buffer.from(cursor, 'base64url').toString();
    return Buffer.from(`[${' '.repeat(bytes - json.length)}${json.slice(1)}`).toString('base64url');
  };

  it('users reads a cursor of 512 characters and refuses one just longer unread, as any cursor it did not make', async () => {
    const cursor = (await page(users, { first: 1 })).list!.pageInfo.endCursor!;
    const next = ids((await page(users, { first: 1, after: cursor })).list);
    expect(next).toHaveLength(1);

    const longest = spacedTo(cursor, 384);
    expect(longest).toHaveLength(512);
    const read = await page(users, { first: 1, after: longest });
    expect(read.response.errors).toBeUndefined();
    expect(ids(read.list)).toEqual(next);

    const tooLong = spacedTo(cursor, 385);
    expect(tooLong).toHaveLength(514);
    const refused = await page(users, { first: 1, after: tooLong });
    const garbage = await page(users, { first: 1, after: 'not-a-cursor' });
    expect(refused.list ?? null).toBeNull();
    expect(refused.response.errors).toEqual(garbage.response.errors);
    expect(refused.response.errors?.[0]).toMatchObject({ path: ['users'], extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
  });
});

describe('decodeCursor', () => {
  it('yields a Date for a timestamp part, the instant it was encoded from', () => {
    const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    const [decoded, id] = decodeCursor(encodeCursor([at.toISOString(), 'usr_1']), ['date', 'string']);
    expect(decoded).toEqual(at);
    expect(id).toBe('usr_1');
  });

  it('refuses a cursor with more parts, or fewer, than the list’s key', () => {
    const at = '2026-01-02T03:04:05.678Z';
    expect(() => decodeCursor(encodeCursor([at, 'usr_1', 'usr_2']), ['date', 'string'])).toThrow(BadUserInputError);
    expect(() => decodeCursor(encodeCursor([at]), ['date', 'string'])).toThrow(BadUserInputError);
    expect(() => decodeCursor(encodeCursor([at, 'usr_1', 'x'], 'agents'), ['date', 'string'], 'agents')).toThrow(BadUserInputError);
  });

  it('refuses a number part JSON reads as Infinity, which encodeCursor never writes', () => {
    expect(() => decodeCursor(Buffer.from('[1e999]').toString('base64url'), ['number'])).toThrow(BadUserInputError);
    expect(decodeCursor(encodeCursor([42]), ['number'])).toEqual([42]);
  });
});
