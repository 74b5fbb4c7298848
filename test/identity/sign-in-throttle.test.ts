import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { forgetAccount, recordSignInSuccess, reserveSignInAttempt, reserveSignUp, THROTTLE } from '../../src/identity/throttle.js';
import { addressNetwork } from '../../src/shared/address.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser, startTestHub } from '../helpers/hub.js';

// A hub of its own: every sign-in and sign-up through `graphql` comes from the same address, so the
// address counts of other files' tests must not leak in.
let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }';
const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }';
const PASSWORD = 'a sentence long enough to remember';

const reserve = (email: string, address: string, now: Date) => hub.services.db.transaction().execute((tx) => reserveSignInAttempt(tx, email, address, now));
const countOf = async (key: string) => (await hub.services.db.selectFrom('sign_in_throttle').select('failures').where('key', '=', key).executeTakeFirst())?.failures;
const codeOf = (error: unknown) => (error as { extensions?: { code?: string } }).extensions?.code;

describe('sign-in throttling under concurrent attempts', () => {
  it('lets no more concurrent wrong sign-ins for one account reach a password check than its limit', async () => {
    const victim = await signUpUser(hub, { email: 'concurrent@example.com', password: PASSWORD });
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => graphql(hub, SIGN_IN, { variables: { input: { email: victim.email, password: `concurrent guess ${i} is wrong` } } })),
    );
    const tally: Record<string, number> = {};
    for (const response of responses) {
      const code = String(response.errors?.[0]?.extensions?.code);
      tally[code] = (tally[code] ?? 0) + 1;
    }
    expect(tally).toEqual({ UNAUTHENTICATED: THROTTLE.perAccountAddress, RATE_LIMITED: 30 - THROTTLE.perAccountAddress });
    expect(await countOf(`account:${victim.email} from ${addressNetwork('127.0.0.1')}`)).toBe(THROTTLE.perAccountAddress);
    const locked = await graphql(hub, SIGN_IN, { variables: { input: { email: victim.email, password: PASSWORD } } });
    expect(locked.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });

  it('grants an address exactly its limit of concurrent attempts, and counts a refused one against no account', async () => {
    const now = new Date('2031-01-01T00:00:00.000Z');
    const attempts = Array.from({ length: THROTTLE.perAddress + 20 }, (_, i) => reserve(`spray${i}@example.com`, '203.0.113.7', now).then(() => 'granted', codeOf));
    const answers = await Promise.all(attempts);
    expect(answers.filter((answer) => answer === 'granted')).toHaveLength(THROTTLE.perAddress);
    expect(answers.filter((answer) => answer === 'RATE_LIMITED')).toHaveLength(20);
    expect(await countOf('address:203.0.113.7')).toBe(THROTTLE.perAddress);
    const accounts = await hub.services.db.selectFrom('sign_in_throttle').select('key').where('key', 'like', 'account:spray%').where('key', 'not like', '% from %').execute();
    expect(accounts).toHaveLength(THROTTLE.perAddress);
  });
});

describe('sign-in throttling, one attempt after the other', () => {
  it('refuses the attempt after the limit from an address until the window has passed, then counts afresh', async () => {
    const start = new Date('2031-02-01T00:00:00.000Z');
    for (let i = 0; i < THROTTLE.perAccountAddress; i++) await reserve('window@example.com', '198.51.100.7', start);
    const refused = await reserve('window@example.com', '198.51.100.7', new Date(start.getTime() + 60_000)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ extensions: { code: 'RATE_LIMITED', retryAfter: THROTTLE.windowSeconds - 60 } });
    // Another address is still let try, and counted.
    await reserve('window@example.com', '198.51.100.99', new Date(start.getTime() + 60_000));
    expect(await countOf('account:window@example.com from 198.51.100.99')).toBe(1);
    await reserve('window@example.com', '198.51.100.7', new Date(start.getTime() + THROTTLE.windowSeconds * 1_000));
    expect(await countOf('account:window@example.com from 198.51.100.7')).toBe(1);
  });

  it('bounds the failures of an account from every address together', async () => {
    const start = new Date('2031-02-15T00:00:00.000Z');
    for (let i = 0; i < THROTTLE.perAccount; i++) await reserve('spread@example.com', `198.51.${Math.floor(i / 250)}.${i % 250}`, start);
    const refused = await reserve('spread@example.com', '203.0.113.200', new Date(start.getTime() + 60_000)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ extensions: { code: 'RATE_LIMITED' } });
    expect(await countOf('account:spread@example.com')).toBe(THROTTLE.perAccount);
  });

  it('does not count successful sign-ins against the address, and clears the account on success', async () => {
    const now = new Date('2031-03-01T00:00:00.000Z');
    // Two accounts, each within the checks an account may have in a window.
    for (let i = 0; i <= THROTTLE.perAddress; i++) {
      const attempt = await reserve(`regular${i % 2}@example.com`, '192.0.2.1', now);
      await hub.services.db.transaction().execute((tx) => recordSignInSuccess(tx, attempt));
    }
    expect(await countOf('account:regular0@example.com')).toBeUndefined();
    expect(await countOf('account:regular1@example.com')).toBeUndefined();
    expect(await countOf('address:192.0.2.1')).toBe(0);
    expect(await countOf('checks:regular0@example.com from 192.0.2.1')).toBe(Math.ceil((THROTTLE.perAddress + 1) / 2));
  });

  it('forgets the failures of an account on request', async () => {
    const now = new Date('2031-04-01T00:00:00.000Z');
    await reserve('forgotten@example.com', '192.0.2.2', now);
    await forgetAccount(hub.services.db, 'FORGOTTEN@example.com');
    expect(await countOf('account:forgotten@example.com')).toBeUndefined();
    expect(await countOf('account:forgotten@example.com from 192.0.2.2')).toBeUndefined();
    expect(await countOf('checks:forgotten@example.com from 192.0.2.2')).toBeUndefined();
    expect(await countOf('address:192.0.2.2')).toBe(1);
  });
});

describe('sign-up throttling', () => {
  it('grants an address exactly its limit of concurrent sign-ups, and counts none it refused', async () => {
    const now = new Date('2031-05-01T00:00:00.000Z');
    const signUps = Array.from({ length: THROTTLE.signUpsPerAddress + 20 }, () =>
      hub.services.db.transaction().execute((tx) => reserveSignUp(tx, '203.0.113.9', now)).then(() => 'granted', codeOf),
    );
    const answers = await Promise.all(signUps);
    expect(answers.filter((answer) => answer === 'granted')).toHaveLength(THROTTLE.signUpsPerAddress);
    expect(answers.filter((answer) => answer === 'RATE_LIMITED')).toHaveLength(20);
    expect(await countOf('sign-up:203.0.113.9')).toBe(THROTTLE.signUpsPerAddress);
  });

  it('lets one address create no more accounts than its limit: the rest are refused with RATE_LIMITED, as sign-in is', async () => {
    const before = (await countOf('sign-up:127.0.0.1')) ?? 0;
    const answers: string[] = [];
    for (let i = 0; i < THROTTLE.signUpsPerAddress + 5; i++) {
      const response = await graphql(hub, SIGN_UP, { variables: { input: { email: `flood${i}@example.com`, password: `${PASSWORD} ${i}` } } });
      answers.push(response.errors ? String(response.errors[0]?.extensions?.code) : 'created');
      if (response.errors) expect(response.errors[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
    }
    const allowed = THROTTLE.signUpsPerAddress - before;
    expect(answers).toEqual([...Array(allowed).fill('created'), ...Array(answers.length - allowed).fill('RATE_LIMITED')]);
    expect(await hub.services.db.selectFrom('users').select('id').where('email', 'like', 'flood%').execute()).toHaveLength(allowed);
    expect(await countOf('sign-up:127.0.0.1')).toBe(THROTTLE.signUpsPerAddress);
  }, 120_000);
});

describe('the address an attempt counts against', () => {
  it('is an IPv6 client’s /64, and an IPv4 client’s address however the socket writes it', () => {
    expect(addressNetwork('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressNetwork('2001:DB8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressNetwork('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(addressNetwork('::1')).toBe('0:0:0:0::/64');
    expect(addressNetwork('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressNetwork('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(addressNetwork('::ffff:c633:6404')).toBe('198.51.100.4');
    expect(addressNetwork('198.51.100.4')).toBe('198.51.100.4');
    expect(addressNetwork('unknown')).toBe('unknown');
  });

  it('lets no IPv6 client past the address limit by moving to another address of its /64', async () => {
    const now = new Date('2031-06-01T00:00:00.000Z');
    for (let i = 0; i < THROTTLE.perAddress; i++) await reserve(`rotating${i}@example.com`, `2001:db8:77:1::${(i + 1).toString(16)}`, now);
    const refused = await reserve('rotating-last@example.com', '2001:db8:77:1:ffff:ffff:ffff:fffe', now).catch(codeOf);
    expect(refused).toBe('RATE_LIMITED');
    expect(await countOf('address:2001:db8:77:1::/64')).toBe(THROTTLE.perAddress);
    // Another subscriber's /64 next to it counts on its own.
    await expect(reserve('neighbour@example.com', '2001:db8:77:2::1', now)).resolves.toMatchObject({ address: '2001:db8:77:2::1' });
  });

  it('lets no IPv6 client past the sign-up limit by moving to another address of its /64', async () => {
    const now = new Date('2031-06-02T00:00:00.000Z');
    const signUp = (address: string) => hub.services.db.transaction().execute((tx) => reserveSignUp(tx, address, now)).then(() => 'granted', codeOf);
    for (let i = 0; i < THROTTLE.signUpsPerAddress; i++) expect(await signUp(`2001:db8:78:1:${(i + 1).toString(16)}::1`)).toBe('granted');
    expect(await signUp('2001:db8:78:1:ffff::1')).toBe('RATE_LIMITED');
  });

  it('takes a successful sign-in back from the /64 it was counted in', async () => {
    const now = new Date('2031-06-03T00:00:00.000Z');
    await reserve('failed-here@example.com', '2001:db8:79:1::1', now);
    const attempt = await reserve('succeeds-here@example.com', '2001:db8:79:1::2', now);
    await hub.services.db.transaction().execute((tx) => recordSignInSuccess(tx, attempt));
    expect(await countOf('address:2001:db8:79:1::/64')).toBe(1);
  });

  it('counts an IPv4 client as one, written plain or IPv4-mapped', async () => {
    const now = new Date('2031-06-04T00:00:00.000Z');
    await reserve('mapped@example.com', '::ffff:198.51.100.77', now);
    await reserve('mapped@example.com', '198.51.100.77', now);
    expect(await countOf('address:198.51.100.77')).toBe(2);
  });
});

describe('counts whose window has ended', () => {
  it('are forgotten as sign-ins and sign-ups go on, with the emails typed in them; counts in their window stay', async () => {
    const { db } = hub.services;
    // The counts the tests above left at their fixed dates end once the real clock passes them.
    await db.deleteFrom('sign_in_throttle').execute();
    const ended = new Date(Date.now() - (THROTTLE.windowSeconds + 60) * 1_000);
    const old = Array.from({ length: 150 }, (_, i) => ({ key: `account:forgotten${i}@example.com`, failures: 3, window_started_at: ended }));
    await db.insertInto('sign_in_throttle').values([...old, { key: 'account:still-counted@example.com', failures: 4, window_started_at: new Date() }]).execute();
    const forgotten = async () => (await db.selectFrom('sign_in_throttle').select('key').where('key', 'like', 'account:forgotten%').execute()).length;

    await graphql(hub, SIGN_IN, { variables: { input: { email: 'nobody-here@example.com', password: 'a wrong password of any length' } } });
    expect(await forgotten()).toBe(50);
    await graphql(hub, SIGN_UP, { variables: { input: { email: 'forgetting@example.com', password: PASSWORD } } });
    expect(await forgotten()).toBe(0);
    expect(await countOf('account:still-counted@example.com')).toBe(4);
  });
});

describe('counts whose window has ended, on an instance nobody signs in to or signs up at any more', () => {
  it('are forgotten all the same, with the email typed in them, by the hub’s housekeeping', async () => {
    const clock = fixedClock('2031-06-01T09:00:00.000Z');
    const idle = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock, housekeepingEveryMs: 50 });
    try {
      // Someone types another person's email with a wrong password, once, and the instance goes quiet.
      await graphql(idle, SIGN_IN, { variables: { input: { email: 'someone.else@example.com', password: 'a wrong password of any length' } } });
      const typed = async () => (await idle.services.db.selectFrom('sign_in_throttle').select('key').where('key', 'like', '%someone.else@example.com%').execute()).length;
      expect(await typed()).toBe(3);

      // The window still runs: the counts limit what comes next.
      clock.advance(THROTTLE.windowSeconds - 60);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await typed()).toBe(3);

      clock.advance(120);
      await vi.waitFor(async () => expect(await idle.services.db.selectFrom('sign_in_throttle').select('key').execute()).toEqual([]), { timeout: 5_000, interval: 50 });
    } finally {
      await idle.close();
    }
  });
});
