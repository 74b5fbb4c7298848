import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { MEMORY_DATA_DIR } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
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
