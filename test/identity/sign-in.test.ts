import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { THROTTLE } from '../../src/identity/throttle.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken expiresIn user { id email givenName country locale } } }';
const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken user { id email lastLoginAt } } }';
const PASSWORD = 'a sentence long enough to remember';

describe('signUp', () => {
  it('creates the user, signs them in, and resolves their own fields in the payload', async () => {
    const response = await graphql(hub, SIGN_UP, {
      variables: { input: { email: ' Grace.Hopper@Example.COM ', password: PASSWORD, givenName: 'Grace', country: 'us', locale: 'en-us' } },
    });
    expect(response.errors).toBeUndefined();
    const payload = (response.data as any).signUp;
    expect(payload.user).toMatchObject({ email: 'grace.hopper@example.com', givenName: 'Grace', country: 'US', locale: 'en-US' });
    expect(payload.user.id).toMatch(/^usr_[0-9A-Z]{26}$/);
    expect(payload.expiresIn).toBe(600);
    const me = await graphql(hub, '{ me { id email } }', { token: payload.accessToken });
    expect(me.data).toEqual({ me: { id: payload.user.id, email: 'grace.hopper@example.com' } });
  });

  it('answers with Cache-Control: no-store, a sign-up’s tokens as every answer of /graphql', async () => {
    const signUp = await hub.http.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json' },
      payload: { query: SIGN_UP, variables: { input: { email: 'no.store@example.com', password: PASSWORD } } },
    });
    expect(signUp.json().data.signUp.accessToken).toBeTruthy();
    expect(signUp.headers['cache-control']).toBe('no-store');
    const token = signUp.json().data.signUp.accessToken as string;
    const me = await hub.http.inject({ method: 'GET', url: '/graphql?query=%7Bme%7Bemail%7D%7D', headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' } });
    expect(me.json()).toEqual({ data: { me: { email: 'no.store@example.com' } } });
    expect(me.headers['cache-control']).toBe('no-store');
  });

  it('refuses an email already registered in any case', async () => {
    await signUpUser(hub, { email: 'taken@example.com' });
    const response = await graphql(hub, SIGN_UP, { variables: { input: { email: 'TAKEN@example.com', password: PASSWORD } } });
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.email' });
    expect(response.data).toBeNull();
  });

  it.each([
    ['short', 'must have at least 15 characters'],
    ['a'.repeat(300), 'must have at most 256 characters'],
    ['aaaaaaaaaaaaaaaaaaaa', 'is too common or too easy to guess'],
    ['passwordpassword', 'is too common or too easy to guess'],
    ['newcomer-newcomer-2024', 'must not contain the email address'],
  ])('refuses the password %j (NIST SP 800-63B: length, not composition)', async (password, message) => {
    const response = await graphql(hub, SIGN_UP, { variables: { input: { email: 'newcomer@example.com', password } } });
    expect(response.errors?.[0]).toMatchObject({ message: `input.password: ${message}`, extensions: { code: 'BAD_USER_INPUT', field: 'input.password' } });
  });

  it('refuses a password sign-in could not take: one that only normalization brings down to the length allowed', async () => {
    // 𝛂, 𝛈 or 𝛚 with three marks is five UTF-16 code units as typed, one character (ᾄ, ᾔ, ᾤ) in NFKC.
    const marks = '\u0313\u0301\u0345';
    const password = ['\u{1D6C2}', '\u{1D6C8}', '\u{1D6DA}', '\u{1D6C2}'].map((letter) => letter + marks).join('').repeat(64);
    expect([...password.normalize('NFKC')]).toHaveLength(256);
    expect(password.length).toBe(1_280);
    const response = await graphql(hub, SIGN_UP, { variables: { input: { email: 'composer@example.com', password } } });
    expect(response.errors?.[0]).toMatchObject({ message: 'input.password: must have at most 256 characters', extensions: { code: 'BAD_USER_INPUT', field: 'input.password' } });
    // As long as sign-in reads, it may be chosen, and signs in.
    // Not one unit repeated, which is refused as too easy to guess: α, η and ω by the bits set in the position.
    const popcount = (i: number) => [...i.toString(2)].filter((bit) => bit === '1').length;
    const fits = Array.from({ length: 256 }, (_, i) => ['\u03B1', '\u03B7', '\u03C9'][popcount(i) % 3] + marks).join('');
    expect((await graphql(hub, SIGN_UP, { variables: { input: { email: 'composer@example.com', password: fits } } })).errors).toBeUndefined();
    expect((await graphql(hub, SIGN_IN, { variables: { input: { email: 'composer@example.com', password: fits } } })).errors).toBeUndefined();
  });

  it('accepts a long password of any composition, including spaces and emoji', async () => {
    const response = await graphql(hub, SIGN_UP, { variables: { input: { email: 'emoji@example.com', password: 'all lowercase words 🙂 fine' } } });
    expect(response.errors).toBeUndefined();
  });

  it.each([
    [{ email: 'not-an-email' }, 'input.email'],
    [{ country: 'XX' }, 'input.country'],
    [{ locale: 'not a locale!' }, 'input.locale'],
    [{ givenName: 'bad\u0007name' }, 'input.givenName'],
    [{ familyName: '\u00ad' }, 'input.familyName'],
  ])('names the bad field of %o', async (bad, field) => {
    const response = await graphql(hub, SIGN_UP, { variables: { input: { email: 'fine@example.com', password: PASSWORD, ...bad } } });
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
  });
});

describe('signIn', () => {
  it('signs in with the right password, in any case of the email, and records the time', async () => {
    const user = await signUpUser(hub, { email: 'linus@example.com', password: PASSWORD });
    const response = await graphql(hub, SIGN_IN, { variables: { input: { email: 'Linus@Example.com', password: PASSWORD } } });
    expect(response.errors).toBeUndefined();
    expect((response.data as any).signIn.user).toMatchObject({ id: user.id, email: 'linus@example.com' });
    expect((response.data as any).signIn.user.lastLoginAt).toEqual(expect.any(String));
  });

  it('answers an unknown email and a wrong password alike, in about the same time', async () => {
    await signUpUser(hub, { email: 'known@example.com', password: PASSWORD });
    const attempt = async (email: string) => {
      const started = performance.now();
      const response = await graphql(hub, SIGN_IN, { variables: { input: { email, password: 'not the password at all' } } }, );
      return { errors: response.errors, ms: performance.now() - started };
    };
    // Taken in turns, three of each, within the account's throttle: one pause of a loaded machine
    // must not decide the comparison, which is of the medians.
    const wrongs = [];
    const unknowns = [];
    for (let i = 0; i < 3; i++) {
      wrongs.push(await attempt('known@example.com'));
      unknowns.push(await attempt('nobody@example.com'));
    }
    for (const answer of [...wrongs, ...unknowns]) {
      expect(answer.errors?.[0]).toMatchObject({ message: 'Invalid email or password', extensions: { code: 'UNAUTHENTICATED' } });
    }
    expect(unknowns[0]!.errors).toEqual(wrongs[0]!.errors);
    const median = (answers: { ms: number }[]) => answers.map((answer) => answer.ms).sort((a, b) => a - b)[1]!;
    const wrong = median(wrongs);
    const unknown = median(unknowns);
    // Both run one Argon2id verification; neither answers in a fraction of the other's time.
    expect(Math.min(wrong, unknown) / Math.max(wrong, unknown)).toBeGreaterThan(0.25);
  });

  it('throttles an account after repeated failures from an address, even for the right password, with RATE_LIMITED', async () => {
    await signUpUser(hub, { email: 'target@example.com', password: PASSWORD });
    for (let i = 0; i < THROTTLE.perAccountAddress; i++) {
      const response = await graphql(hub, SIGN_IN, { variables: { input: { email: 'target@example.com', password: `guess number ${i} is wrong` } } });
      expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    const locked = await graphql(hub, SIGN_IN, { variables: { input: { email: 'TARGET@example.com', password: PASSWORD } } });
    expect(locked.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
    expect(locked.errors?.[0]?.extensions?.retryAfter).toBeLessThanOrEqual(THROTTLE.windowSeconds);
  });

  it('throttles an address that tries many accounts', async () => {
    const headers = { 'x-forwarded-for': 'unused' };
    let last;
    for (let i = 0; i <= THROTTLE.perAddress; i++) {
      last = await graphql(hub, SIGN_IN, { variables: { input: { email: `spray${i}@example.com`, password: 'the same guess for all' } }, headers });
    }
    expect(last?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  }, 120_000);

  it('refuses U+0000 in a string, in the document or the variables, as bad input', async () => {
    const inVariables = await graphql(hub, SIGN_IN, { variables: { input: { email: 'a\u0000@example.com', password: PASSWORD } } });
    expect(inVariables.status).toBe(400);
    expect(inVariables.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
    const inDocument = await graphql(hub, 'query { user(id: "usr_\\u0000") { id } }');
    expect(inDocument.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });
});
