import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';

const lines: string[] = [];
let hub: Hub;
let database: TestDatabase;
beforeAll(async () => {
  const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: 'trace' });
  database = await createTestDatabase();
  hub = await createHub(config, { database, logger: createLogger(config, { write: (line: string) => lines.push(line) }) });
});
afterAll(() => hub.close());

const logged = () => lines.map((line) => JSON.parse(line) as Record<string, any>);

describe('the error log', () => {
  it("logs a database error by its code and constraint, never the row's values or the statement's parameters", async () => {
    const user = await signUpUser(hub, { givenName: 'Ann', familyName: 'Quillfeather' });
    const email = (await database.db.selectFrom('users').select('email').where('id', '=', user.id).executeTakeFirstOrThrow()).email;
    // A constraint the code does not expect: the update fails in the database, as an internal error.
    await sql`alter table users add constraint given_name_not_reserved check (given_name <> 'Reserved-Name-77')`.execute(database.db);
    const response = await graphql(hub, 'mutation { updateProfile(input: { givenName: "Reserved-Name-77" }) { givenName } }', { token: user.accessToken });
    expect(response.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');

    const entry = logged().find((line) => line.msg === 'graphql error');
    expect(entry?.err).toMatchObject({ code: '23514', constraint: 'given_name_not_reserved', table: 'users' });
    const text = lines.join('');
    for (const value of [email, 'Quillfeather', '$argon2id', 'Reserved-Name-77', user.id]) expect(text).not.toContain(value);
  });
});
