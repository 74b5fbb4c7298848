import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { BadUserInputError } from '../../src/shared/errors.js';
import { decodeCursor } from '../../src/shared/pagination.js';
import { graphql, startTestHub } from '../helpers/hub.js';
import { operatorToken } from '../helpers/oauth.js';

/** A cursor whose JSON escapes a UTF-16 surrogate without its pair, which no id or key the hub encodes holds. */
const forged = (key: string) => Buffer.from(key).toString('base64url');

describe('decodeCursor', () => {
  it.each([['a lone high surrogate', '["usr_\\ud800"]'], ['a lone low surrogate', '["\\udfff"]']])('refuses a string part holding %s', (_what, key) => {
    expect(() => decodeCursor(forged(key), ['string'])).toThrow(BadUserInputError);
  });

  it('reads a string part holding a surrogate pair', () => {
    expect(decodeCursor(forged('["\\ud83d\\ude00"]'), ['string'])).toEqual(['\u{1F600}']);
  });
});

describe('a list paged after a cursor holding an unpaired surrogate', () => {
  let hub: Hub;
  let admin: string;
  beforeAll(async () => {
    hub = await startTestHub();
    admin = await operatorToken(hub);
  });
  afterAll(() => hub.close());

  it.each([
    ['users', 'users(after: $after)', '["usr_\\ud800"]'],
    ['agents', 'agents(after: $after)', '["2026-01-01T00:00:00.000Z","agt_\\udfff"]'],
  ])('%s answers BAD_USER_INPUT rather than paging from where the database puts U+FFFD', async (name, field, key) => {
    const response = await graphql(hub, `query($after: String) { ${field} { edges { cursor } } }`, { token: admin, variables: { after: forged(key) } });
    expect(response.data).toBeNull();
    expect(response.errors).toMatchObject([{ path: [name], extensions: { code: 'BAD_USER_INPUT', field: 'after' } }]);
  });
});
