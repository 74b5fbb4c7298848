import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';

// The hub's clock stands years before the system's, then years after it: a check made by the system's would answer otherwise.
const clock = fixedClock('2020-06-15T12:00:00Z');
let hub: Hub;
let user: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  user = await signUpUser(hub);
});
afterAll(() => hub.close());

/** Sets the birthdate in a session signed in now, by the hub's clock; resolves to the error's extensions, if any, and the birthdate stored after. */
async function setBirthdate(birthdate: string) {
  const { accessToken: token } = await signIn(hub, user);
  const response = await graphql(hub, 'mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { birthdate } }', { variables: { input: { birthdate } }, token });
  const me = await graphql<{ me: { birthdate: string | null } }>(hub, '{ me { birthdate } }', { token });
  return { refused: response.errors?.[0]?.extensions, stored: me.data?.me.birthdate };
}

describe('a birthdate, judged by the hub’s clock', () => {
  it('may be today, never a day later', async () => {
    clock.set('2020-06-15T23:59:59Z');
    expect(await setBirthdate('2020-06-15')).toEqual({ refused: undefined, stored: '2020-06-15' });
    expect(await setBirthdate('2020-06-16')).toEqual({ refused: { code: 'BAD_USER_INPUT', field: 'input.birthdate' }, stored: '2020-06-15' });
  });

  it('may be up to 130 years before today, and today is the hub’s', async () => {
    clock.set('2031-03-01T09:00:00Z');
    expect(await setBirthdate('2031-03-01')).toEqual({ refused: undefined, stored: '2031-03-01' });
    expect(await setBirthdate('1901-03-01')).toEqual({ refused: undefined, stored: '1901-03-01' });
    expect(await setBirthdate('1901-02-28')).toEqual({ refused: { code: 'BAD_USER_INPUT', field: 'input.birthdate' }, stored: '1901-03-01' });
    expect(await setBirthdate('1900-06-01')).toEqual({ refused: { code: 'BAD_USER_INPUT', field: 'input.birthdate' }, stored: '1901-03-01' });
  });

  it('may be 130 years before February 29 on the 28th of a year without one, as the audiences count ages', async () => {
    clock.set('2024-02-29T09:00:00Z');
    expect(await setBirthdate('1894-02-28')).toEqual({ refused: undefined, stored: '1894-02-28' });
    const { accessToken: token } = await signIn(hub, user);
    const response = await graphql(hub, 'mutation { updateProfile(input: { birthdate: "1894-02-27" }) { birthdate } }', { token });
    expect(response.errors?.[0]?.message).toContain('between 1894-02-28 and today');
  });
});

describe('a user signing up', () => {
  it('is created, changed and signed in at the instant of the hub’s clock', async () => {
    clock.set('2031-04-01T10:30:00.250Z');
    const { accessToken: token } = await signUpUser(hub);
    const me = await graphql(hub, '{ me { createdAt updatedAt lastLoginAt } }', { token });
    expect(me.data).toEqual({ me: { createdAt: '2031-04-01T10:30:00.250Z', updatedAt: '2031-04-01T10:30:00.250Z', lastLoginAt: '2031-04-01T10:30:00.250Z' } });
  });
});
