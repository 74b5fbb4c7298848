import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { THROTTLE } from '../../src/identity/throttle.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { graphql, signUpUser, TEST_ENV, TEST_PASSWORD } from '../helpers/hub.js';

// A hub of its own, on a clock that moves only when told: every attempt here comes from one
// address, and a window of the throttle must end when the test says.
const clock = fixedClock('2031-09-01T08:00:00Z');
let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }';
const signIn = async (email: string, password: string) => (await graphql(hub, SIGN_IN, { variables: { input: { email, password } } })).errors?.[0]?.extensions?.code;

async function failuresIn(userId: string | null) {
  await hub.services.audit.flush();
  const events = hub.database.db.selectFrom('audit_events').select('reason').where('action', '=', 'user.sign_in_failed');
  // Sorted: the clock stands still, so the events' times do not order them.
  return (await (userId ? events.where('subject_user_id', '=', userId) : events.where('subject_user_id', 'is', null)).execute()).map((event) => event.reason!).sort();
}

describe('sign-ins refused for the throttle', () => {
  it('are recorded in the account’s trail once per address and window, however often a stranger retries', async () => {
    const victim = await signUpUser(hub);
    for (let i = 0; i < THROTTLE.perAccountAddress; i++) expect(await signIn(victim.email, `a wrong guess, number ${i}`)).toBe('UNAUTHENTICATED');
    for (let i = 0; i < 20; i++) expect(await signIn(victim.email, `another wrong guess, number ${i}`)).toBe('RATE_LIMITED');
    expect(await failuresIn(victim.id)).toEqual(['RATE_LIMITED', ...Array(THROTTLE.perAccountAddress).fill('WRONG_PASSWORD')]);

    // A new window counts afresh; its first refusal is recorded again.
    clock.advance(THROTTLE.windowSeconds);
    for (let i = 0; i < THROTTLE.perAccountAddress; i++) expect(await signIn(victim.email, `a later wrong guess, number ${i}`)).toBe('UNAUTHENTICATED');
    expect(await signIn(victim.email, TEST_PASSWORD)).toBe('RATE_LIMITED');
    expect(await signIn(victim.email, TEST_PASSWORD)).toBe('RATE_LIMITED');
    expect((await failuresIn(victim.id)).filter((reason) => reason === 'RATE_LIMITED')).toHaveLength(2);
  });

  it('are recorded in the hub’s trail once per address and window for emails of no account', async () => {
    clock.advance(THROTTLE.windowSeconds);
    for (let i = 0; i < THROTTLE.perAddress; i++) expect(await signIn(`nobody${i}@example.com`, 'a guess at nobody in particular')).toBe('UNAUTHENTICATED');
    for (let i = 0; i < 20; i++) expect(await signIn(`nobody-else${i}@example.com`, 'a guess at nobody in particular')).toBe('RATE_LIMITED');
    expect(await failuresIn(null)).toEqual(['RATE_LIMITED', ...Array(THROTTLE.perAddress).fill('UNKNOWN_ACCOUNT')]);
  });
});
