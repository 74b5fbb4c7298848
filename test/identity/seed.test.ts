import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { verify } from '@node-rs/argon2';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { DEMO_EMAIL, DEMO_PASSWORD, seedDemoIfEmpty } from '../../src/identity/demo.js';
import { phone } from '../../src/identity/profile.input.js';
import { createCustomerSource, hashDemoPassword, insertCustomers, seedUsers, type SeedCounts } from '../../src/identity/seed.js';
import { createTestDatabase, describeEmbedded, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { admin, withRole } from '../helpers/global-setup.js';
import { runNode } from '../helpers/run-node.js';

const USERS = 150;
const LOCALES: Record<string, string> = {
  US: 'en-US', DE: 'de-DE', GB: 'en-GB', FR: 'fr-FR', ES: 'es-ES', IT: 'it-IT', NL: 'nl-NL', BR: 'pt-BR', JP: 'ja-JP', SE: 'sv-SE',
};
const CURRENCIES: Record<string, string> = {
  US: 'USD', DE: 'EUR', GB: 'GBP', FR: 'EUR', ES: 'EUR', IT: 'EUR', NL: 'EUR', BR: 'BRL', JP: 'JPY', SE: 'SEK',
};

/** Every seeded row but the password hash, whose salt is random by design. */
async function digestOf(db: Db): Promise<string> {
  const users = await db.selectFrom('users').selectAll().orderBy('id').execute();
  const orders = await db.selectFrom('orders').selectAll().orderBy('id').execute();
  const cards = await db.selectFrom('payment_methods').selectAll().orderBy('id').execute();
  const rows = [users.map(({ password_hash: _, ...user }) => user), orders, cards];
  return createHash('sha256').update(JSON.stringify(rows)).digest('hex');
}

async function countsOf(db: Db): Promise<SeedCounts> {
  const count = (table: 'users' | 'orders' | 'payment_methods') =>
    db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow().then((r) => Number(r.n));
  return { users: await count('users'), orders: await count('orders'), paymentMethods: await count('payment_methods') };
}

describe('seedUsers', () => {
  let first: TestDatabase;
  let second: TestDatabase;
  let counts: SeedCounts;
  beforeAll(async () => {
    [first, second] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const passwordHash = await hashDemoPassword();
    const progress: number[] = [];
    counts = await seedUsers(first.db, { users: USERS, seed: 7, batchSize: 40, passwordHash, onProgress: (done) => progress.push(done.users) });
    // One report per batch of 40; two batches may be written at once, so they can finish in either order.
    expect(progress).toHaveLength(4);
    expect(progress.at(-1)).toBe(USERS);
  });
  afterAll(() => Promise.all([first?.close(), second?.close()]));

  it('gives the same rows, ids included, for the same seed and different rows for another', async () => {
    const expected = await digestOf(first.db);
    await seedUsers(second.db, { users: USERS, seed: 7, batchSize: 64 });
    expect(await digestOf(second.db)).toBe(expected);

    // A database of its own: seeded consents have an append-only history, so users cannot be deleted.
    const third = await createTestDatabase();
    try {
      await seedUsers(third.db, { users: USERS, seed: 8 });
      expect(await digestOf(third.db)).not.toBe(expected);
    } finally {
      await third.close();
    }
  });

  it('returns the counts it inserted, with 0 to 20 orders and 0 to 2 cards a customer', async () => {
    expect(await countsOf(first.db)).toEqual(counts);
    expect(counts.users).toBe(USERS);
    expect(counts.orders / USERS).toBeGreaterThan(4);
    expect(counts.orders / USERS).toBeLessThan(8.5);
    const perUser = await sql<{ n: number }>`select count(o.id)::int as n from users u left join orders o on o.user_id = u.id group by u.id`.execute(first.db);
    const orderCounts = perUser.rows.map((r) => r.n);
    expect(Math.max(...orderCounts)).toBeLessThanOrEqual(20);
    expect(orderCounts.some((n) => n >= 10)).toBe(true);
    expect(orderCounts.some((n) => n === 0)).toBe(true);
    const cards = await sql<{ n: number }>`select count(*)::int as n from payment_methods group by user_id order by n desc limit 1`.execute(first.db);
    expect(cards.rows[0]!.n).toBeLessThanOrEqual(2);
  });

  it('makes every order total the sum of its 1 to 4 line items, placed after sign-up, in the country’s currency', async () => {
    const orders = await first.db
      .selectFrom('orders')
      .innerJoin('users', 'users.id', 'orders.user_id')
      .select(['orders.id', 'total_minor', 'line_items', 'currency', 'placed_at', 'users.created_at', 'users.country'])
      .execute();
    for (const order of orders) {
      const sum = order.line_items.reduce((total, item) => total + item.quantity * item.unitPriceMinor, 0);
      expect({ id: order.id, total: order.total_minor }).toEqual({ id: order.id, total: sum });
      expect(order.line_items.length).toBeGreaterThanOrEqual(1);
      expect(order.line_items.length).toBeLessThanOrEqual(4);
      expect(order.currency).toBe(CURRENCIES[order.country!]);
      expect(order.placed_at.getTime()).toBeGreaterThanOrEqual(order.created_at.getTime());
    }
  });

  it('gives unique lowercase emails, E.164 phones, locales that match the country and consistent loyalty', async () => {
    const users = await first.db.selectFrom('users').selectAll().execute();
    expect(new Set(users.map((u) => u.email!.toLowerCase())).size).toBe(users.length);
    const tierPoints: Record<string, [number, number]> = { bronze: [0, 999], silver: [1_000, 4_999], gold: [5_000, 14_999], platinum: [15_000, 60_000] };
    for (const user of users) {
      expect(user.email).toBe(user.email!.toLowerCase());
      expect(user.locale).toBe(LOCALES[user.country!]);
      expect(user.address?.country).toBe(user.country);
      // A number updateProfile would take, in the form it stores.
      if (user.phone !== null) expect(phone.parse(user.phone)).toBe(user.phone);
      const [min, max] = tierPoints[user.loyalty_tier!]!;
      expect(user.loyalty_points).toBeGreaterThanOrEqual(min);
      expect(user.loyalty_points).toBeLessThanOrEqual(max);
      if (user.last_login_at) expect(user.last_login_at.getTime()).toBeGreaterThanOrEqual(user.created_at.getTime());
      expect(user.id).toMatch(/^usr_[0-9A-HJKMNP-TV-Z]{26}$/);
    }
    expect(new Set(users.map((u) => u.country)).size).toBeGreaterThan(5);
  });

  it('keeps only the brand, last four digits and expiry of a card', async () => {
    const cards = await first.db.selectFrom('payment_methods').selectAll().execute();
    expect(cards.length).toBeGreaterThan(0);
    for (const card of cards) {
      expect(Object.keys(card).sort()).toEqual(['brand', 'created_at', 'exp_month', 'exp_year', 'id', 'last4', 'user_id']);
      expect(card.last4).toMatch(/^\d{4}$/);
      expect(['visa', 'mastercard', 'amex']).toContain(card.brand);
    }
  });
});

describe('seedUsers when a batch fails', () => {
  it('rejects with the error of a batch that failed while the next was generated, not the counts of the rest', async () => {
    const database = await createTestDatabase();
    try {
      const passwordHash = await hashDemoPassword();
      // The first customer of the seed is stored already, as an interrupted run leaves it: the first batch fails.
      await insertCustomers(database.db, [createCustomerSource(11, 6_000).next(0)], passwordHash);
      await expect(seedUsers(database.db, { users: 6_000, seed: 11, batchSize: 3_000, passwordHash })).rejects.toMatchObject({ code: '23505' });
    } finally {
      await database.close();
    }
  });
});

describe('seedDemoIfEmpty', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.close());

  it('seeds the demo set and account once, and does nothing on a database with users', async () => {
    const logger = pino({ level: 'silent' });
    const lines = await seedDemoIfEmpty(database.db, logger);
    expect(lines.join('\n')).toContain(`signIn(input: { email: \\"${DEMO_EMAIL}\\", password: \\"${DEMO_PASSWORD}\\" })`);
    expect(lines.join('\n')).toContain('Authorization: Bearer $TOKEN');
    const counts = await countsOf(database.db);
    expect(counts.users).toBe(26);

    const demo = await database.db.selectFrom('users').selectAll().where('email', '=', DEMO_EMAIL).executeTakeFirstOrThrow();
    expect(await verify(demo.password_hash!, DEMO_PASSWORD)).toBe(true);
    expect(demo).toMatchObject({ given_name: 'Alex', family_name: 'Demo', email_verified: true, country: 'US', locale: 'en-US' });
    expect(phone.parse(demo.phone)).toBe(demo.phone);
    const orders = await database.db.selectFrom('orders').select('id').where('user_id', '=', demo.id).execute();
    expect(orders).toHaveLength(10);

    expect(await seedDemoIfEmpty(database.db, logger)).toEqual([]);
    expect(await countsOf(database.db)).toEqual(counts);
  });
});

describeEmbedded('hub seed', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-seed-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, HUB_DATA_DIR: dir, LOG_LEVEL: 'silent' };
  const args = (...rest: string[]) => ['bin/hub.js', 'seed', ...rest];

  it('seeds the embedded database and prints its counts', async () => {
    const run = await runNode(env, ...args('--users', '50', '--seed', '3'));
    expect(run.stderr).toContain('seeded 50/50 users (100%)');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^seeded 50 users, \d+ orders, \d+ payment methods \(seed 3\) in [\d.]+ s, \d+ users\/s$/m);
  }, 120_000);

  it('refuses --users 0 and --users abc, and a database kept in memory, with a one-line error', async () => {
    // Side by side: each run spends its time starting tsx, not seeding.
    const runs = await Promise.all(['0', 'abc'].map((users) => runNode(env, ...args('--users', users))));
    for (const run of runs) {
      expect(run.status).toBe(1);
      expect(run.stderr.trim().split('\n')).toEqual([expect.stringContaining('must be an integer from 1 to 10,000,000')]);
    }
    const inMemory = await runNode({ ...env, HUB_DATA_DIR: 'memory://' }, ...args('--users', '5'));
    expect(inMemory.status).toBe(1);
    expect(inMemory.stderr.trim().split('\n')).toEqual([expect.stringContaining('seed refuses to run on HUB_DATA_DIR=memory:// without DATABASE_URL: the rows would be gone when it exits')]);
  }, 60_000);

  it('refuses each argument one past its bounds, or written other than in digits, with a one-line error', async () => {
    const refused = [
      [['--users', '10000001'], "error: option '--users <n>' argument '10000001' is invalid. must be an integer from 1 to 10,000,000."],
      [['--users', '1e3'], "error: option '--users <n>' argument '1e3' is invalid. must be an integer from 1 to 10,000,000."],
      [['--users', '5', '--seed', '4294967296'], "error: option '--seed <s>' argument '4294967296' is invalid. must be an integer from 0 to 4294967295."],
      [['--users', '5', '--batch-size', '0'], "error: option '--batch-size <n>' argument '0' is invalid. must be an integer from 1 to 50,000."],
      [['--users', '5', '--batch-size', '50001'], "error: option '--batch-size <n>' argument '50001' is invalid. must be an integer from 1 to 50,000."],
    ] as const;
    const runs = await Promise.all(refused.map(([given]) => runNode(env, ...args(...given))));
    expect(runs).toEqual(refused.map(([, message]) => ({ status: 1, stdout: '', stderr: `${message}\n` })));
  }, 60_000);

  it('takes the least users and the greatest seed and batch size, and names a seed already loaded', async () => {
    const given = args('--users', '1', '--seed', '4294967295', '--batch-size', '50000');
    const first = await runNode(env, ...given);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^seeded 1 users, \d+ orders, \d+ payment methods \(seed 4294967295\) in /);
    const again = await runNode(env, ...given);
    expect({ status: again.status, stderr: again.stderr }).toEqual({ status: 1, stderr: 'hub: seed 4294967295 is already loaded in this database; choose another --seed\n' });
  }, 120_000);
});

describe.runIf(testServerUrl() !== undefined)('hub seed on a server', () => {
  it('runs with HUB_DATA_DIR=memory://, which keeps nothing of its own: the rows go to DATABASE_URL', async () => {
    const database = await createTestDatabase();
    try {
      const env = { PATH: process.env.PATH, DATABASE_URL: database.url, HUB_DATA_DIR: 'memory://', HUB_KEY_ENCRYPTION_KEY: '11'.repeat(32), LOG_LEVEL: 'silent' };
      const run = await runNode(env, 'bin/hub.js', 'seed', '--users', '3', '--seed', '5');
      expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 0, stdout: expect.stringMatching(/^seeded 3 users, /) });
      expect((await countsOf(database.db)).users).toBe(3);
    } finally {
      await database.close();
    }
  }, 120_000);
});

/**
 * A role granted `session_replication_role` (PostgreSQL 15 lets a superuser grant it) that owns
 * none of the tables, as a hub's runtime role may be: it may turn the triggers off, but not drop
 * a table's indexes. Only a server has roles.
 */
describe.runIf(testServerUrl() !== undefined)('seedUsers as a role that may turn triggers off but owns no table', () => {
  it('loads the customers, without the load that drops and builds the indexes', async () => {
    const serverUrl = testServerUrl()!;
    const database = await createTestDatabase();
    const role = `hub_test_seeder_${randomBytes(6).toString('hex')}`;
    await admin(serverUrl, `create role ${role} login nosuperuser`, `grant set on parameter session_replication_role to ${role}`);
    const seeder = openDatabase({ url: withRole(database.url!, role) });
    try {
      await admin(database.url!, `grant select, insert, update, delete on all tables in schema public to ${role}`, `grant usage on all sequences in schema public to ${role}`);
      const indexes = () => sql<{ n: number }>`select count(*)::int as n from pg_index where indrelid = any(array['users', 'orders', 'payment_methods', 'consents', 'consent_events', 'audience_members']::regclass[])`.execute(database.db);
      const before = (await indexes()).rows[0]!.n;
      expect(await seedUsers(seeder.db, { users: 20, seed: 11, batchSize: 10 })).toMatchObject({ users: 20 });
      expect((await countsOf(database.db)).users).toBe(20);
      expect((await indexes()).rows[0]!.n).toBe(before);
    } finally {
      await seeder.close();
      await database.close();
      await admin(serverUrl, `revoke set on parameter session_replication_role from ${role}`, `drop role ${role}`);
    }
  }, 60_000);
});
