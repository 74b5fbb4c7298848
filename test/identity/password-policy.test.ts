import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { passwordProblem } from '../../src/identity/password.js';
import { graphql, signUpUser, startTestHub, TEST_PASSWORD } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { user { id } } }';
const CHANGE = 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }';
let n = 0;
const signUp = (password: string, email = `policy${++n}-${Math.random().toString(36).slice(2, 8)}@example.com`) =>
  graphql<{ signUp: { user: { id: string } } | null }>(hub, SIGN_UP, { variables: { input: { email, password } } });

describe('password policy (NIST SP 800-63B-4 §3.1.1.2: context-specific words and a blocklist)', () => {
  it('refuses the email address itself as the password, however short its local part', async () => {
    // 'bob@example.com' is 15 characters: long enough, and nothing else refuses it.
    for (const email of ['bob@example.com', 'jo@example.co.uk', 'Al@Shop-Example.com']) {
      const response = await signUp(email.toUpperCase(), email);
      expect(response.errors?.[0]?.extensions, email).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.password' });
    }
  });

  it('refuses the email address as a new password in changePassword', async () => {
    const email = `ann@${Math.random().toString(36).slice(2, 8)}.example.com`;
    const user = await signUpUser(hub, { email });
    const response = await graphql(hub, CHANGE, { variables: { input: { currentPassword: TEST_PASSWORD, newPassword: email } }, token: user.accessToken });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.newPassword' });
  });

  it.each([
    'passwordpasswordpassword',
    'iloveyouiloveyouiloveyou',
    '1234567890123456789',
    '12345678901234567890',
    '0987654321098765',
    'abcdefghijklmnopqrstuvwxyz',
    'qwertyuiopasdfghjklzxcvbnm',
    '1q2w3e4r5t6y7u8i9o0p',
    'zxcvbnmasdfghjkl',
  ])('refuses %s, a trivial variant of what the blocklist names', async (password) => {
    const response = await signUp(password);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.password' });
  });

  it('still accepts a long passphrase', async () => {
    expect((await signUp('correct horse battery staple 42')).errors).toBeUndefined();
    expect((await signUp('my 1st car was a blue 1998 volvo')).errors).toBeUndefined();
  });
});

describe('the bounds of the password policy', () => {
  it('accepts 15 characters and refuses 14', () => {
    expect(passwordProblem('tea at four pm!', 'ann@example.com')).toBeUndefined();
    expect(passwordProblem('tea at four pm', 'ann@example.com')).toBe('must have at least 15 characters');
  });

  it('refuses a local part of 4 characters inside the password, and takes one of 3', () => {
    expect(passwordProblem('my friend anna likes tea', 'anna@example.com')).toBe('must not contain the email address');
    expect(passwordProblem('my friend ann likes tea', 'ann@example.com')).toBeUndefined();
  });

  it('refuses a password of two characters in any order, not only a repetition', () => {
    expect(passwordProblem('aababbbaabbbabab', 'ann@example.com')).toBe('is too common or too easy to guess');
  });
});
