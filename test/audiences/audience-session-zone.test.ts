import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { admin } from '../helpers/global-setup.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

// UTC+14: an instant of the afternoon in UTC is already the next day there.
const ZONE = 'Pacific/Kiritimati';

let hub: Hub;
let marketing: string;
beforeAll(async () => {
  const database = await createTestDatabase();
  // Every session of the hub's, on a server as in PGlite's one, runs in ZONE; on a server the
  // setting is made before the pools open their first connection.
  if (database.url) await admin(testServerUrl()!, `alter database "${new URL(database.url).pathname.slice(1)}" set timezone to '${ZONE}'`);
  else await sql`set time zone ${sql.lit(ZONE)}`.execute(database.db);
  hub = await createHub(loadConfig(TEST_ENV), { database });
  marketing = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read'], 'agt_01J0000000000000000000ZONE');
});
afterAll(() => hub.close());

describe('an audience, with the database sessions in another time zone than UTC', () => {
  it('exports createdAt as the instant in UTC, as the audience query shows it', async () => {
    const { rows } = await sql<{ zone: string }>`select current_setting('TimeZone') as zone`.execute(hub.services.db);
    expect(rows[0]!.zone).toBe(ZONE);
    const user = await signUpUser(hub, { country: 'KI' });
    await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    await sql`update users set created_at = ${new Date('2026-03-01T12:34:56.789Z')} where id = ${user.id}`.execute(hub.services.db);

    const shown = await graphql<any>(hub, 'query { audience(purpose: "email_marketing", filter: { countries: ["KI"] }) { edges { node { id createdAt } } } }', { token: marketing });
    expect(shown.data.audience.edges).toEqual([{ node: { id: user.id, createdAt: '2026-03-01T12:34:56.789Z' } }]);
    const saved = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
      token: marketing,
      variables: { input: { name: 'Kiribati', purpose: 'email_marketing', filter: { countries: ['KI'] } } },
    });
    const response = await hub.http.inject({ method: 'GET', url: `/audiences/${saved.data.createAudience.id}/export`, headers: { authorization: `Bearer ${marketing}` } });
    expect(response.statusCode).toBe(200);
    const lines = response.body.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([expect.objectContaining({ id: user.id, createdAt: '2026-03-01T12:34:56.789Z' })]);
  });
});
