import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertSavedAudience, listSavedAudiencesOf } from '../../src/audiences/saved-audience.queries.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { insertUser } from '../../src/identity/user.queries.js';
import { insertRefreshToken, markRefreshTokenRotated } from '../../src/oauth/refresh-token.queries.js';
import { admin, withDatabase } from '../helpers/global-setup.js';
import { testServerUrl } from '../helpers/database.js';

/**
 * A database whose default collation is Czech, as an operator in Prague makes one: it sorts the
 * letters CH after H, so ids spelled in Crockford's base32 (ULIDs) no longer sort by their time.
 * Where the hub takes an id's order for time, it compares bytes. Only a server has ICU collations;
 * PGlite has none.
 */
describe.skipIf(testServerUrl() === undefined)('ids on a database with a Czech collation', () => {
  const name = `hub_test_${randomBytes(6).toString('hex')}`;
  let database: DatabaseHandle;

  beforeAll(async () => {
    const serverUrl = testServerUrl()!;
    await admin(serverUrl, `create database ${name} template template0 locale_provider icu icu_locale 'cs-CZ' lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8'`);
    database = openDatabase({ url: withDatabase(serverUrl, name) });
    await migrateToLatest(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await admin(testServerUrl()!, `drop database if exists ${name} with (force)`);
  });

  it('keep the row of a refresh family’s first token, which says when the session began', async () => {
    const db = database.db;
    const began = new Date('2026-03-01T10:00:00Z');
    await insertUser(db, { id: 'usr_0000000000000000000000CZ01', email: 'jana@example.cz', passwordHash: 'x', now: began });
    // Three tokens a minute apart, as a refreshed session is handed them; the first one's id has CH where the later ones have D.
    const ids = ['rt_01KCH0000000000000000000A1', 'rt_01KD00000000000000000000A2', 'rt_01KD10000000000000000000A3'];
    let replaces: string | undefined;
    for (const [i, id] of ids.entries()) {
      const now = new Date(began.getTime() + i * 60_000);
      if (replaces) await markRefreshTokenRotated(db, replaces, now);
      await insertRefreshToken(db, {
        id, familyId: 'rt_01KCH0000000000000000000F1', replaces, tokenHash: randomBytes(32), userId: 'usr_0000000000000000000000CZ01',
        clientId: 'hub-frontend', scope: 'profile:read', authTime: began, consentId: null, actorChain: [], delegatedFrom: [], now,
        expiresAt: new Date(now.getTime() + 86_400_000),
      });
      replaces = id;
    }
    const rows = await db.selectFrom('refresh_tokens').select('id').orderBy('created_at').execute();
    // Its first, last used and latest tokens, as on any database.
    expect(rows.map((row) => row.id)).toEqual(ids);
  });

  it('list a client’s saved audiences oldest first, page after page', async () => {
    const db = database.db;
    const ids = ['aud_01KCH0000000000000000000A1', 'aud_01KD00000000000000000000A2', 'aud_01KD10000000000000000000A3'];
    for (const [i, id] of ids.entries()) {
      await insertSavedAudience(db, { id, name: `Audience ${i}`, purpose: 'email_marketing', filter: {}, createdBy: 'agt_czech_tool' }, new Date(Date.UTC(2026, 2, 1, 10, i)));
    }
    const first = await listSavedAudiencesOf(db, 'agt_czech_tool', 2);
    const next = await listSavedAudiencesOf(db, 'agt_czech_tool', 2, first.at(-1)!.id);
    expect([...first, ...next].map((audience) => audience.id)).toEqual(ids);
  });
});
