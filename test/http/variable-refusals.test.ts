import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub, TEST_PASSWORD } from '../helpers/hub.js';

// graphql-js's refusal of a variable quotes the value refused: for one unknown or missing field
// of an input, the whole input, passwords and all, came back in an answer that clients' error
// reporting and gateways keep.

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_IN = 'mutation SignIn($input: SignInInput!) { signIn(input: $input) { accessToken } }';
const CHANGE_PASSWORD = 'mutation Change($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }';

describe('a refused variable', () => {
  it('is answered by where and why it was refused, never quoting the values it held', async () => {
    const cases: [string, Record<string, unknown>, string[]][] = [
      [SIGN_IN, { email: 'ann@example.com', password: 'Quoted-Secret-101', rememberMe: true }, ['Variable "$input" got invalid value; Field "rememberMe" is not defined by type "SignInInput".']],
      [SIGN_IN, { email: 'ann@example.com', passwrd: 'Quoted-Secret-102' }, [
        'Variable "$input" got invalid value; Field "password" of required type "String!" was not provided.',
        'Variable "$input" got invalid value; Field "passwrd" is not defined by type "SignInInput".',
      ]],
      [CHANGE_PASSWORD, { currentPassword: 'Quoted-Secret-103', newPassword: 42 }, ['Variable "$input" got invalid value at "input.newPassword"; Expected type "String".']],
    ];
    const user = await signUpUser(hub);
    for (const [query, input, messages] of cases) {
      const response = await graphql(hub, query, { variables: { input }, token: user.accessToken });
      expect(response.status).toBe(400);
      expect(response.errors).toEqual(messages.map((message) => expect.objectContaining({ message, extensions: { code: 'BAD_USER_INPUT' } })));
      expect(JSON.stringify(response)).not.toMatch(/Quoted-Secret|ann@example\.com/);
    }
  });

  it('is answered by the type the value should have when the type’s own refusal repeats the value', async () => {
    // A password a client sent as a number, or wrapped in an object: String's refusal ends with it.
    const user = await signUpUser(hub);
    for (const password of [20051987, { value: 'Quoted-Secret-104' }, ['Quoted-Secret-105']]) {
      const response = await graphql(hub, SIGN_IN, { variables: { input: { email: 'ann@example.com', password } }, token: user.accessToken });
      expect(response.errors).toEqual([expect.objectContaining({ message: 'Variable "$input" got invalid value at "input.password"; Expected type "String".', extensions: { code: 'BAD_USER_INPUT' } })]);
      expect(JSON.stringify(response)).not.toMatch(/20051987|Quoted-Secret/);
    }
    const whole = await graphql(hub, 'mutation($e: String!, $p: String!) { signIn(input: { email: $e, password: $p }) { accessToken } }', { variables: { e: 'ann@example.com', p: 20051987 } });
    expect(whole.errors).toEqual([expect.objectContaining({ message: 'Variable "$p" got invalid value; Expected type "String".' })]);
  });

  it('is answered by the type the value should have when the type’s refusal repeats the value unquoted', async () => {
    // graphql-scalars' DateTime words its refusal with the text as sent, without quotes.
    const response = await graphql(hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', { variables: { input: { purpose: 'support', expiresAt: 'Quoted-Secret-106' } } });
    expect(response.errors).toEqual([expect.objectContaining({ message: 'Variable "$input" got invalid value at "input.expiresAt"; Expected type "DateTime".', extensions: { code: 'BAD_USER_INPUT' } })]);
    expect(JSON.stringify(response)).not.toMatch(/Quoted-Secret/);
  });

  it('finds where the quote ends though a value holds what looks like it', async () => {
    const password = `x" }; Field "password" at "input.password"; ${TEST_PASSWORD}`;
    const response = await graphql(hub, SIGN_IN, { variables: { input: { email: 'bob@example.com', password, typo: 1 } } });
    expect(response.errors).toEqual([expect.objectContaining({ message: 'Variable "$input" got invalid value; Field "typo" is not defined by type "SignInInput".' })]);
  });
});

describe('variables with more refusals than graphql-js counts', () => {
  it('are refused as bad input, the last refusal saying the count was reached, not masked as an internal error', async () => {
    // graphql-js stops at 50 refusals and adds one of its own, which names no variable.
    const response = await graphql(hub, SIGN_IN, { variables: { input: { email: 'ann@example.com', password: TEST_PASSWORD, ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`typo${i}`, 1])) } } });
    expect(response.status).toBe(400);
    expect(response.errors).toHaveLength(51);
    expect(response.errors!.map((error) => error.extensions)).toEqual(Array(51).fill({ code: 'BAD_USER_INPUT' }));
    expect(response.errors!.at(-1)!.message).toBe('Too many errors processing variables, error limit reached. Execution aborted.');
  });
});
