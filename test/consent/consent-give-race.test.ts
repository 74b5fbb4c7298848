import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

// Consents of one person are given one at a time, under a lock on their consents. A consent is
// timed once it holds that lock, never before: otherwise a request that waited there would
// record the consent it supersedes, given meanwhile by a faster request, as withdrawn before it
// was given, and leave the older of the two in force. PGlite has one connection, so the wait
// needs a server.

const clock = fixedClock(new Date('2026-03-01T12:00:00Z'));
let hub: Hub;

describe.skipIf(testServerUrl() === undefined)('a consent given while another change of the person’s consents holds their lock', () => {
  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  });
  afterAll(() => hub.close());
  const { holding, waiters } = lockHolder(() => hub.services.db);

  it('is given, and supersedes the one before, at the time it gets the lock', async () => {
    const user = await signUpUser(hub);
    const first = await giveConsent(hub, user.accessToken, { purpose: 'personalization' });
    const held = await holding((tx) => sql`select pg_advisory_xact_lock(hashtext(${`consents:${user.id}`}))`.execute(tx));
    const given = graphql<any>(hub, 'mutation { giveConsent(input: { purpose: "personalization" }) { id givenAt } }', { token: user.accessToken });
    await waiters(1);
    clock.advance(60);
    await held.release();

    const response = await given;
    expect(response.errors).toBeUndefined();
    expect(response.data.giveConsent.givenAt).toBe('2026-03-01T12:01:00.000Z');
    const rows = await hub.services.db.selectFrom('consents').select(['id', 'status', 'withdrawn_at']).where('id', '=', first).execute();
    expect(rows).toEqual([{ id: first, status: 'withdrawn', withdrawn_at: new Date('2026-03-01T12:01:00Z') }]);
  });
});
