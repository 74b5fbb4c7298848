import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const byVariable = 'query($f: AudienceFilter) { audience(purpose: "email_marketing", filter: $f) { totalCount } }';

describe('a refused input value', () => {
  it('is not repeated, the refusal naming where it is and the type it should have', async () => {
    const response = await graphql(hub, byVariable, { variables: { f: { lastOrderAfter: 'yesterday' } } });
    expect(response.status).toBe(400);
    expect(response.errors).toEqual([
      {
        message: 'Variable "$f" got invalid value at "f.lastOrderAfter"; Expected type "DateTime".',
        locations: [{ line: 1, column: 7 }],
        extensions: { code: 'BAD_USER_INPUT' },
      },
    ]);
  });

  it('in a variable, long, is not repeated either, the refusal still saying what and where, anonymous or not', async () => {
    const value = `2031-${'9'.repeat(100_000)}`;
    const response = await graphql(hub, byVariable, { variables: { f: { lastOrderAfter: value } } });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.errors).length).toBeLessThan(1_000);
    expect(response.errors).toEqual([
      {
        message: 'Variable "$f" got invalid value at "f.lastOrderAfter"; Expected type "DateTime".',
        locations: [{ line: 1, column: 7 }],
        extensions: { code: 'BAD_USER_INPUT' },
      },
    ]);
  });

  it('written in the document, is cut short in the refusal at its place', async () => {
    const value = 'x'.repeat(60_000);
    const response = await graphql(hub, `{ audience(purpose: "email_marketing", filter: { lastOrderAfter: "${value}" }) { totalCount } }`);
    expect(response.status).toBe(400);
    expect(response.errors).toEqual([
      { message: `DateTime cannot represent an invalid date-time-string ${'x'.repeat(32)}…`, locations: [{ line: 1, column: 66 }], extensions: { code: 'BAD_USER_INPUT' } },
    ]);
  });

  it('as an operation name the document does not hold, is cut short in the refusal too', async () => {
    const operationName = 'x'.repeat(100_000);
    const response = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ query: '{ __typename }', operationName }) });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([{ message: `Unknown operation named "${'x'.repeat(31)}…`, extensions: { code: 'BAD_USER_INPUT' } }]);
  });
});
