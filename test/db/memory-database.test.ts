import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { MEMORY_DATA_DIR } from '../../src/config.js';
import { openDatabase, pgliteParsers } from '../../src/db/connect.js';
import { describeEmbedded } from '../helpers/database.js';

// `HUB_DATA_DIR=memory://`: the embedded database the hub opens itself, kept in memory, reads
// values as a data folder and a server do: a date (a profile's birthdate) as its 'YYYY-MM-DD',
// free of time zones, not a JavaScript Date.
describeEmbedded('an embedded database kept in memory', () => {
  it('reads a date as the date it holds', async () => {
    const database = openDatabase({ dataDir: MEMORY_DATA_DIR });
    try {
      const { rows } = await sql<{ birthdate: unknown }>`select date '1990-05-17' as birthdate`.execute(database.db);
      expect(rows).toEqual([{ birthdate: '1990-05-17' }]);
    } finally {
      await database.close();
    }
  });
});

// Kysely closes its driver only once a statement has run through it: a handle closed before its
// first left PGlite booting, and, for a data folder, its lock freed while that PGlite still read
// and wrote the folder (which a test's cleanup then removed under it: ENOENT, unhandled).
describeEmbedded('an embedded database closed before any statement ran on it', () => {
  it('is closed all the same', async () => {
    const pglite = new PGlite({ parsers: pgliteParsers });
    const database = openDatabase({ pglite });
    await database.close();
    expect(pglite.closed).toBe(true);
  });
});
