import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { user { id email } } }';
const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { user { id } } }';
const PASSWORD = 'a sentence long enough to remember';

describe('email addresses at internationalized domains (IDNA, RFC 5890)', () => {
  it('signs up an address under an IDN top-level domain, in its ASCII form', async () => {
    // .рф, .中国, .in (भारत) and dozens more are IDN TLDs: their ASCII form is xn--….
    for (const email of ['ivan@xn--e1afmkfd.xn--p1ai', 'li@shop.xn--fiqs8s', 'info@shop.xn--h2brj9c']) {
      const response = await graphql<any>(hub, SIGN_UP, { variables: { input: { email, password: PASSWORD } } });
      expect(response.errors, email).toBeUndefined();
      expect(response.data.signUp.user.email).toBe(email);
    }
  });

  it('takes a domain written in Unicode as its ASCII form, at sign-up and sign-in alike', async () => {
    const up = await graphql<any>(hub, SIGN_UP, { variables: { input: { email: 'Anna@Bücher.de', password: PASSWORD } } });
    expect(up.errors).toBeUndefined();
    expect(up.data.signUp.user.email).toBe('anna@xn--bcher-kva.de');
    for (const email of ['anna@bücher.de', 'ANNA@XN--BCHER-KVA.DE']) {
      const response = await graphql<any>(hub, SIGN_IN, { variables: { input: { email, password: PASSWORD } } });
      expect(response.errors, email).toBeUndefined();
      expect(response.data.signIn.user.id).toBe(up.data.signUp.user.id);
    }
    // The same address in either form is one account.
    const again = await graphql<any>(hub, SIGN_UP, { variables: { input: { email: 'anna@xn--bcher-kva.de', password: PASSWORD } } });
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.email' });
  });

  it('still refuses what is not an address', async () => {
    for (const email of ['no-at-sign.example', 'a@b', 'a@-bad.example', 'a@xn--', 'a@exa mple.com']) {
      const response = await graphql<any>(hub, SIGN_UP, { variables: { input: { email, password: PASSWORD } } });
      expect(response.errors?.[0]?.extensions, email).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.email' });
    }
  });

  it('refuses a domain in ASCII form that IDNA does not give, a second account for the same-looking address', async () => {
    const nina = await graphql<any>(hub, SIGN_UP, { variables: { input: { email: 'nina@bücher.de', password: PASSWORD } } });
    expect(nina.data.signUp.user.email).toBe('nina@xn--bcher-kva.de');
    // Punycode of bu\u0308cher (u and a combining diaeresis) and of bÜcher: both read as bücher, but
    // no IDNA conversion gives them (RFC 5891 §5.4), so no mail reaches them and no one owns them.
    for (const email of ['nina@xn--bucher-xyd.de', 'nina@xn--bcher-2pa.de', 'nina@shop.xn--zz']) {
      const response = await graphql<any>(hub, SIGN_UP, { variables: { input: { email, password: PASSWORD } } });
      expect(response.errors?.[0]?.extensions, email).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.email' });
    }
  });

  it('refuses a local part with a letter outside ASCII rather than take it as the ASCII one Unicode lowercases it to', async () => {
    // The Kelvin sign K (U+212A) lowercases to k: \u212Aate@… would have been kate@…'s account.
    const kate = await graphql<any>(hub, SIGN_UP, { variables: { input: { email: 'kate@example.com', password: PASSWORD } } });
    expect(kate.errors).toBeUndefined();
    const up = await graphql<any>(hub, SIGN_UP, { variables: { input: { email: '\u212Aim@example.com', password: PASSWORD } } });
    expect(up.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.email' });
    const signIn = await graphql<any>(hub, SIGN_IN, { variables: { input: { email: '\u212Aate@example.com', password: PASSWORD } } });
    expect(signIn.data?.signIn ?? null).toBeNull();
  });

  it('refuses an address no mail can reach: a local part past 64 octets, a domain label past 63 or ending in a dash', async () => {
    // RFC 5321 §4.5.3.1.1 and RFC 1035 §2.3.1; a Unicode label counts in its ASCII form (xn--…).
    for (const email of [`${'a'.repeat(65)}@example.com`, `b@${'c'.repeat(64)}.example`, `d@${'ü'.repeat(60)}.de`, 'e@exa-.example', `f@example.${'g'.repeat(64)}`]) {
      const response = await graphql<any>(hub, SIGN_UP, { variables: { input: { email, password: PASSWORD } } });
      expect(response.errors?.[0]?.extensions, email).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.email' });
    }
    // At the bounds, each is an address.
    for (const email of [`${'a'.repeat(64)}@example.com`, `b@${'c'.repeat(63)}.example`]) {
      const response = await graphql<any>(hub, SIGN_UP, { variables: { input: { email, password: PASSWORD } } });
      expect(response.errors, email).toBeUndefined();
    }
  });
});
