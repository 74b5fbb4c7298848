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
// was given, and leave the older of the two in force. A withdrawal takes the same lock, so a
// consent given again never begins before the one before it ended. PGlite has one connection, so
// the wait needs a server.

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

  it('waits for a withdrawal, and begins no earlier than it, whatever the clock of the instance giving it says', async () => {
    clock.set('2026-03-02T12:00:00Z');
    const user = await signUpUser(hub);
    const first = await giveConsent(hub, user.accessToken, { purpose: 'personalization' });
    // Holds the consent row: the withdrawal, dated by an instance whose clock is ahead, waits on it.
    const held = await holding((tx) => tx.selectFrom('consents').select('id').where('id', '=', first).forUpdate().execute());
    clock.set('2026-03-02T12:00:30Z');
    const withdrawn = graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status withdrawnAt } }', { token: user.accessToken, variables: { id: first } });
    await waiters(1);
    // The instance giving the consent again is 20 s behind.
    clock.set('2026-03-02T12:00:10Z');
    const given = graphql<any>(hub, 'mutation { giveConsent(input: { purpose: "personalization" }) { id givenAt } }', { token: user.accessToken });
    await waiters(2);
    await held.release();

    expect((await withdrawn).data.withdrawConsent).toEqual({ status: 'WITHDRAWN', withdrawnAt: '2026-03-02T12:00:30.000Z' });
    const response = await given;
    expect(response.errors).toBeUndefined();
    expect(response.data.giveConsent.givenAt).toBe('2026-03-02T12:00:30.000Z');
  });
});
