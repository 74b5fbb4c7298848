import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }';
const PASSWORD = 'a sentence long enough to remember';

/** A sign-in from the client at `remoteAddress` (no proxy in front of the hub). */
async function signInFrom(remoteAddress: string, email: string, password: string) {
  const response = await hub.http.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ query: SIGN_IN, variables: { input: { email, password } } }),
  });
  return JSON.parse(response.body) as { data?: { signIn: { accessToken: string } | null }; errors?: { extensions?: { code?: string } }[] };
}

describe('the per-account throttle turned against the account holder', () => {
  it('does not let anyone who knows an email lock its owner out: after 5 wrong guesses from elsewhere the owner still signs in from their own address', async () => {
    const victim = await signUpUser(hub, { email: 'lockout-victim@example.com', password: PASSWORD });
    // Five requests from one attacker address, none of them near the victim's network.
    for (let i = 0; i < 5; i++) {
      const guess = await signInFrom('198.51.100.66', victim.email, `a wrong guess number ${i}`);
      expect(guess.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    const owner = await signInFrom('203.0.113.10', victim.email, PASSWORD);
    expect(owner.errors?.[0]?.extensions?.code).toBeUndefined();
    expect(owner.data?.signIn?.accessToken).toEqual(expect.any(String));
  });
});
