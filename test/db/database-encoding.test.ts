import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { testServerUrl } from '../helpers/database.js';
import { admin, withDatabase } from '../helpers/global-setup.js';
import { TEST_ENV } from '../helpers/hub.js';

// A database's encoding is chosen as it is created (`create database … encoding …`), and only a
// server has one to choose: PGlite's is UTF-8.
describe.skipIf(testServerUrl() === undefined)('a hub given a database whose encoding is not UTF-8', () => {
  const databases: string[] = [];
  afterAll(async () => {
    await admin(testServerUrl()!, ...databases.map((name) => `drop database if exists ${name} with (force)`));
  });

  // LATIN1 refuses a name in Chinese or with an emoji as the customer signs up (a 500 to them);
  // SQL_ASCII stores its bytes unchecked and counts them as characters, so an agent's name in
  // Chinese within the hub's 200 characters breaks the table's `length(name) between 1 and 200`.
  it.each(['LATIN1', 'SQL_ASCII'])('refuses to start on %s, naming the encoding, having migrated nothing', async (encoding) => {
    const name = `hub_test_${randomBytes(6).toString('hex')}`;
    databases.push(name);
    await admin(testServerUrl()!, `create database ${name} template template0 encoding '${encoding}' locale 'C'`);
    const url = withDatabase(testServerUrl()!, name);
    const start = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: url })).then(
      async (hub) => (await hub.close(), 'started'),
      (error: Error) => error.message,
    );
    expect(start).toContain(`the database's encoding is ${encoding}`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      expect((await client.query(`select to_regclass('users') as users`)).rows[0].users).toBeNull();
    } finally {
      await client.end();
    }
  });
});
