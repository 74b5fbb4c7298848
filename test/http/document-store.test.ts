import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { BYTES_PER_TOKEN, boundedDocumentStore, documentSize } from '../../src/http/graphql-documents.js';
import { BODY_LIMIT } from '../../src/http/server.js';
import { graphql, startTestHub } from '../helpers/hub.js';
import { heapAfterCollecting } from '../helpers/heap.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

describe('the parsed documents the hub keeps', () => {
  it('stay within their memory however many new documents come, each a short query padded with comments to the body limit', async () => {
    // A comment is no token of the limit, but graphql-js keeps one object for each in the
    // document's chain of tokens: about 40,000 here, some 4 MB, in a document of a few nodes.
    const padded = (n: number) => `# ${n}\n{ __typename }\n${'#\n'.repeat(Math.floor((BODY_LIMIT - 200) / 3))}`;
    const before = heapAfterCollecting();
    for (let n = 0; n < 60; n++) {
      const answer = await graphql(hub, padded(n));
      expect({ status: answer.status, data: answer.data }).toEqual({ status: 200, data: { __typename: 'Query' } });
    }
    expect(heapAfterCollecting() - before).toBeLessThan(48 * 2 ** 20);
  }, 120_000);
});

describe('boundedDocumentStore', () => {
  it('keeps a document sent again as it was parsed, and counts its comments as the memory they take', async () => {
    const store = boundedDocumentStore(2 * 2 ** 20);
    const small = parse('{ __typename }');
    await store.set('small', small);
    expect(await store.get('small')).toBe(small);
    const commented = parse(`{ __typename }\n${'#\n'.repeat(10_000)}`);
    expect(documentSize(commented)).toBeGreaterThan(10_000 * BYTES_PER_TOKEN);
    await store.set('commented', commented);
    expect(await store.get('commented')).toBe(commented);
    // Past the store's memory, it is not kept at all.
    await store.set('larger', parse(`{ __typename }\n${'#\n'.repeat(20_000)}`));
    expect(await store.get('larger')).toBeUndefined();
  });
});
