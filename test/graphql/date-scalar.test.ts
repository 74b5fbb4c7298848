import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
let token: string;
beforeAll(async () => {
  hub = await startTestHub();
  token = (await signUpUser(hub)).accessToken;
});
afterAll(() => hub.close());

const update = (birthdate: string) => `mutation { updateProfile(input: { birthdate: ${birthdate} }) { birthdate } }`;

describe('the Date scalar written in the document', () => {
  it.each([
    ['a day that does not exist', '"2024-02-30"'],
    ['a date and time', '"2000-01-01T00:00:00Z"'],
    ['a number', '20000101'],
    ['a year and month alone, which Date.parse reads as the first of the month', '"2000-01"'],
  ])('refuses %s as BAD_USER_INPUT at the value’s place in the document', async (_what, literal) => {
    const response = await graphql(hub, update(literal), { token });
    expect(response.status).toBe(400);
    expect(response.errors).toEqual([
      { message: expect.stringContaining('must be a calendar date as YYYY-MM-DD'), locations: [{ line: 1, column: 46 }], extensions: { code: 'BAD_USER_INPUT' } },
    ]);
  });

  it('reads a real calendar date', async () => {
    const response = await graphql(hub, update('"2000-02-29"'), { token });
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ updateProfile: { birthdate: '2000-02-29' } });
  });
});
