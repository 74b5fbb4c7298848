import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

async function post(body: unknown) {
  const response = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { status: response.statusCode, body: JSON.parse(response.body) as unknown };
}

const QUERY = '{ __typename }';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('automatic persisted queries', () => {
  it('answer a known hash with its query', async () => {
    expect(await post({ query: QUERY, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(QUERY) } } })).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
    expect(await post({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(QUERY) } } })).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
  });

  it.each([
    ['a version other than 1', { version: 2, sha256Hash: sha256(QUERY) }, 'Unsupported persisted query version'],
    ['a hash that is not the query’s', { version: 1, sha256Hash: sha256('{ me { id } }') }, 'provided sha does not match query'],
  ])('refuse %s as the client’s mistake, not an internal error', async (_, persistedQuery, message) => {
    expect(await post({ query: QUERY, extensions: { persistedQuery } })).toEqual({ status: 400, body: { errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] } });
  });
});
