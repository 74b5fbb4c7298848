import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEEDED_CONSENT_RATES, seededConsents } from '../../src/audiences/consent.seed.js';
import { SEED_TIME_BASE, createCustomerSource, seedUsers } from '../../src/identity/seed.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const USERS = 400;
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  await seedUsers(database.db, { users: USERS, seed: 11, batchSize: 150, passwordHash: 'not-a-real-hash' });
});
afterAll(() => database.close());

describe('seeded consents', () => {
  it('are given at the stated rates, some withdrawn or expired, to the company only', async () => {
    const rows = await database.db.selectFrom('consents').select(['purpose', 'status', 'agent_id', 'expires_at']).execute();
    for (const [purpose, rate] of Object.entries(SEEDED_CONSENT_RATES)) {
      const mine = rows.filter((r) => r.purpose === purpose);
      expect(mine.length / USERS).toBeGreaterThan(rate.given * 0.7);
      expect(mine.length / USERS).toBeLessThan(rate.given * 1.3);
    }
    expect(rows.every((r) => r.agent_id === null)).toBe(true);
    expect(rows.some((r) => r.status === 'withdrawn')).toBe(true);
    expect(rows.some((r) => r.status === 'active' && r.expires_at !== null && r.expires_at < SEED_TIME_BASE)).toBe(true);
  });

  it('leave the audience state equal to the live consents of active users', async () => {
    const { rows } = await sql<{ missing: number; extra: number }>`
      select
        (select count(*) from consents c where c.status = 'active' and c.agent_id is null
          and not exists (select 1 from audience_members m where m.purpose = c.purpose and m.user_id = c.user_id))::int as missing,
        (select count(*) from audience_members m where not exists (select 1 from consents c
          where c.id = m.consent_id and c.status = 'active' and c.agent_id is null))::int as extra`.execute(database.db);
    expect(rows[0]).toEqual({ missing: 0, extra: 0 });
  });

  it('are the same for the same seed, whatever the batch', () => {
    const customers = (seed: number) => {
      const source = createCustomerSource(seed, 50);
      return Array.from({ length: 50 }, (_, i) => source.next(i).user);
    };
    expect(seededConsents(customers(3), SEED_TIME_BASE)).toEqual(seededConsents(customers(3), SEED_TIME_BASE));
    expect(seededConsents(customers(3).slice(0, 20), SEED_TIME_BASE)).toEqual(seededConsents(customers(3), SEED_TIME_BASE).filter((c) => customers(3).slice(0, 20).some((u) => u.id === c.user_id)));
    expect(seededConsents(customers(4), SEED_TIME_BASE)).not.toEqual(seededConsents(customers(3), SEED_TIME_BASE));
  });
});
