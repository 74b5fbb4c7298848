import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateSigningKey } from '../../src/oauth/key-store.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';

// Two `hub keys rotate` at once take turns: each retires the key the one before added, and both
// succeed, where otherwise the later would find another key signing and fail. PGlite runs one
// transaction at a time, so the wait needs a server.

const kek = randomBytes(32);
let database: TestDatabase;

describe.skipIf(testServerUrl() === undefined)('two rotations of the signing key at once', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.close());
  const { holding, waiters } = lockHolder(() => database.db);

  it('both succeed, and the key the later added is the one that signs', async () => {
    const signing = () => database.db.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).execute();
    await rotateSigningKey(database.db, kek, new Date());
    // Holds the key that signs: the first rotation waits to retire it.
    const held = await holding((tx) => tx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).forUpdate().execute());
    const first = rotateSigningKey(database.db, kek, new Date());
    await waiters(1);
    const second = rotateSigningKey(database.db, kek, new Date());
    await waiters(2);
    await held.release();

    const [, later] = await Promise.all([first, second]);
    expect(await signing()).toEqual([{ kid: later }]);
  });
});
