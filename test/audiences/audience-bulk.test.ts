import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/connect.js';
import { seedUsers } from '../../src/identity/seed.js';
import { copySeedWriter, kyselySeedWriter, type SeedWriter } from '../../src/identity/seed.writer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const USERS = 300;
const SEED = 23;

/** Every audience row, in key order, as comparable text. */
async function audienceRows(db: Db): Promise<string[]> {
  const { rows } = await sql<{ row: string }>`select (m.*)::text as row from audience_members m order by purpose, user_id`.execute(db);
  return rows.map((r) => r.row);
}

let bulk: TestDatabase;
let triggered: TestDatabase;
let pool: pg.Pool | undefined;
beforeAll(async () => {
  [bulk, triggered] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  // On a server, the bulk load goes through COPY as `hub seed` does it.
  pool = bulk.url ? new pg.Pool({ connectionString: bulk.url, max: 2 }) : undefined;
  await seedUsers(bulk.db, { users: USERS, seed: SEED, batchSize: 70, passwordHash: 'not-a-real-hash', pool });
  // Inside a transaction the seed leaves the triggers on: they write the audience rows.
  await triggered.db.transaction().execute((tx) => seedUsers(tx, { users: USERS, seed: SEED, batchSize: 70, passwordHash: 'not-a-real-hash' }));
});
afterAll(async () => {
  await pool?.end();
  await Promise.all([bulk?.close(), triggered?.close()]);
});

describe('a bulk seed', () => {
  it('writes the audience rows the triggers write, row for row', async () => {
    // The condition of bulk mode, so this compares the two ways of writing and not one with itself.
    const { rows } = await sql<{ may: boolean }>`select has_parameter_privilege('session_replication_role', 'SET') as may`.execute(bulk.db);
    expect(rows[0]!.may).toBe(true);
    const written = await audienceRows(bulk.db);
    expect(written.length).toBeGreaterThan(USERS / 2);
    expect(written).toEqual(await audienceRows(triggered.db));
  });

  it('leaves the rows audience_resync derives from the source tables', async () => {
    const written = await audienceRows(bulk.db);
    await sql`select audience_resync(array(select id from users))`.execute(bulk.db);
    expect(await audienceRows(bulk.db)).toEqual(written);
  });

  it('loads every row the triggered seed loads, with no orphans', async () => {
    const counts = (db: Db) =>
      sql<{ counts: string }>`select concat_ws(' ', (select count(*) from users), (select count(*) from orders), (select count(*) from payment_methods),
        (select count(*) from consents), (select count(*) from consent_events)) as counts`.execute(db);
    expect((await counts(bulk.db)).rows).toEqual((await counts(triggered.db)).rows);
    const { rows } = await sql<{ orphans: number }>`select
      (select count(*) from orders o where not exists (select 1 from users u where u.id = o.user_id))
      + (select count(*) from consents c where not exists (select 1 from users u where u.id = c.user_id))
      + (select count(*) from consent_events e where not exists (select 1 from consents c where c.id = e.consent_id)) as orphans`.execute(bulk.db);
    expect(Number(rows[0]!.orphans)).toBe(0);
  });

  it('builds every index and constraint again after loading into empty tables', async () => {
    const definitions = (db: Db) =>
      sql<{ def: string }>`select indexdef as def from pg_indexes where schemaname = 'public'
        and tablename in ('users', 'orders', 'payment_methods', 'consents', 'consent_events', 'audience_members')
        union all select conname || ' ' || pg_get_constraintdef(oid) from pg_constraint
        where conrelid::regclass::text in ('users', 'orders', 'payment_methods', 'consents', 'consent_events', 'audience_members')
        order by 1`.execute(db);
    const built = (await definitions(bulk.db)).rows;
    expect(built.some((r) => r.def.includes('orders_pkey'))).toBe(true);
    expect(built).toEqual((await definitions(triggered.db)).rows);
  });

  it('keeps the triggers in charge after it: a withdrawal still removes the member', async () => {
    const { rows } = await sql<{ id: string; user_id: string }>`select c.id, c.user_id from consents c
      join audience_members m on m.consent_id = c.id limit 1`.execute(bulk.db);
    const consent = rows[0]!;
    await sql`update consents set status = 'withdrawn', withdrawn_at = now() where id = ${consent.id}`.execute(bulk.db);
    const left = await sql`select 1 from audience_members where consent_id = ${consent.id}`.execute(bulk.db);
    expect(left.rows).toEqual([]);
  });
});

describe('seed writers', () => {
  // Text that COPY and JSON must carry unchanged: tabs, newlines, backslashes, quotes, braces.
  const awkward = 'tab\there\nnew line \\ back "quoted" {braced,comma} \r end';

  it('carry awkward text, JSON and arrays unchanged', async () => {
    const database = await createTestDatabase();
    const copyPool = database.url ? new pg.Pool({ connectionString: database.url, max: 1 }) : undefined;
    try {
      const writers: [string, SeedWriter][] = [['kysely', kyselySeedWriter(database.db)]];
      if (copyPool) writers.push(['copy', copySeedWriter(copyPool)]);
      for (const [name, writer] of writers) {
        const id = `usr_01J00000000000000000000${name === 'copy' ? 'CP' : 'KY'}`;
        const user = {
          id, email: `${name}@example.com`, email_verified: true, phone: null, given_name: awkward, family_name: 'Ø\u00e9\u65e5',
          birthdate: '1990-02-28', locale: 'en-US', country: 'US', address: { line1: awkward, line2: null, city: 'x', region: null, postalCode: '1', country: 'US' },
          preferences: { interests: [awkward, 'a,b', '{x}', 'NULL', ''], channels: ['email'] }, loyalty_tier: 'gold', loyalty_points: 5_000,
          created_at: new Date('2025-01-02T03:04:05.678Z'), updated_at: new Date('2025-01-02T03:04:05.678Z'), last_login_at: null, password_hash: 'h',
        };
        await writer.transaction((tx) => tx.append('users', [user]));
        const consent = {
          id: `cns_01J00000000000000000000${name === 'copy' ? 'CP' : 'KY'}`, user_id: id, purpose: 'email_marketing', agent_id: null,
          scopes: [awkward, 'NULL'], status: 'active', given_at: new Date('2025-01-03T00:00:00.000Z'), expires_at: null, withdrawn_at: null,
          collection_method: awkward, policy_version: '1',
        };
        await writer.transaction((tx) => tx.append('consents', [consent]));
        const row = await database.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        // A seeded customer has had no approval yet, so no entry key.
        expect({ ...row, status: undefined }).toEqual({ ...user, status: undefined, entry_hmac_key: null });
        const stored = await database.db.selectFrom('consents').select(['scopes', 'collection_method']).where('id', '=', consent.id).executeTakeFirstOrThrow();
        expect(stored).toEqual({ scopes: consent.scopes, collection_method: awkward });
      }
    } finally {
      await copyPool?.end();
      await database.close();
    }
  });
});
