import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDLE_IN_TRANSACTION_TIMEOUT_MS, openDatabase } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';

describe.skipIf(testServerUrl() === undefined)('a session of the hub on the PostgreSQL server', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    await sql`create table held (id int primary key)`.execute(database.db);
    await sql`insert into held values (1)`.execute(database.db);
  });
  afterAll(() => database.close());

  const setting = async () => (await sql<{ ms: number }>`select setting::int as ms from pg_settings where name = 'idle_in_transaction_session_timeout'`.execute(database.db)).rows[0]!.ms;

  it('is ended by the server once idle inside a transaction, which frees the rows it locked', async () => {
    expect(await setting()).toBe(IDLE_IN_TRANSACTION_TIMEOUT_MS);
    const stalled = openDatabase({ url: database.url!, poolSize: 1, idleInTransactionTimeoutMs: 500 });
    try {
      let resume!: () => void;
      const locked = new Promise<void>((resolve) => (resume = resolve));
      const transaction = stalled.db.transaction().execute(async (tx) => {
        await sql`select id from held where id = 1 for update`.execute(tx);
        resume();
        // The instance stalls here, holding the lock, past the timeout.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await sql`select 1`.execute(tx);
      });
      await locked;
      const other = await database.db.transaction().execute(async (tx) => {
        await sql`set local lock_timeout = '5s'`.execute(tx);
        return (await sql<{ id: number }>`select id from held where id = 1 for update`.execute(tx)).rows;
      });
      expect(other).toEqual([{ id: 1 }]);
      await expect(transaction).rejects.toThrow(/connection error/);
    } finally {
      await stalled.close();
    }
  });
});
