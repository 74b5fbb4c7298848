import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { THROTTLE } from '../../src/identity/throttle.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }';
const PASSWORD = 'a sentence long enough to remember';

describe('password checks per request', () => {
  const sessionsOf = async (userId: string) =>
    Number((await hub.services.db.selectFrom('refresh_tokens').select((eb) => eb.fn.count<number>('family_id').distinct().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);

  it.each([
    ['aliases', 'mutation($input: SignInInput!) { a: signIn(input: $input) { accessToken } b: signIn(input: $input) { accessToken } }'],
    ['a fragment', 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } ...again } fragment again on Mutation { again: signIn(input: $input) { accessToken } }'],
    ['an inline fragment and signUp', 'mutation($input: SignInInput!, $up: SignUpInput!) { ... on Mutation { signIn(input: $input) { accessToken } } signUp(input: $up) { accessToken } }'],
  ])('are one at most: two through %s are refused before either runs', async (_, query) => {
    const user = await signUpUser(hub, { password: PASSWORD });
    const before = await sessionsOf(user.id);
    const up = { email: `second-${user.email}`, password: PASSWORD };
    const response = await graphql(hub, query, { variables: { input: { email: user.email, password: PASSWORD }, up } });
    expect(response.status).toBe(400);
    expect(response.errors).toEqual([expect.objectContaining({ message: expect.stringContaining('one password at most'), extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
    expect(await sessionsOf(user.id)).toBe(before);
    expect(await hub.services.db.selectFrom('users').select('id').where('email', '=', up.email).executeTakeFirst()).toBeUndefined();
  });

  it('are counted as @skip and @include leave them: signUp or signIn, as a variable says, is one', async () => {
    const user = await signUpUser(hub, { password: PASSWORD });
    const EITHER = `mutation($new: Boolean!, $up: SignUpInput!, $input: SignInInput!) {
      signUp(input: $up) @include(if: $new) { accessToken }
      signIn(input: $input) @skip(if: $new) { accessToken }
    }`;
    const up = { email: `either-${user.email}`, password: PASSWORD };
    const input = { email: user.email, password: PASSWORD };
    const signedIn = await graphql<any>(hub, EITHER, { variables: { new: false, up, input } });
    expect(signedIn.errors).toBeUndefined();
    expect(signedIn.data.signIn.accessToken).toEqual(expect.any(String));
    const signedUp = await graphql<any>(hub, EITHER, { variables: { new: true, up, input } });
    expect(signedUp.errors).toBeUndefined();
    expect(signedUp.data.signUp.accessToken).toEqual(expect.any(String));
    // Both included: refused before either runs.
    const both = await graphql<any>(hub, EITHER.replace('@skip(if: $new)', '@include(if: $new)'), { variables: { new: true, up: { ...up, email: `both-${user.email}` }, input } });
    expect(both.status).toBe(400);
  });
});

describe('password checks per account', () => {
  it('are counted right or wrong: past THROTTLE.checksPerAccountAddress from an address in a window, even the right password is RATE_LIMITED', async () => {
    const user = await signUpUser(hub, { password: PASSWORD });
    const signIn = (email: string) => graphql<any>(hub, SIGN_IN, { variables: { input: { email, password: PASSWORD } } });
    for (let i = 0; i < THROTTLE.checksPerAccountAddress; i++) expect((await signIn(user.email)).errors).toBeUndefined();
    const refused = await signIn(user.email);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
    // Per account: another one signs in from the same address.
    const other = await signUpUser(hub, { password: PASSWORD });
    expect((await signIn(other.email)).errors).toBeUndefined();
  });
});
