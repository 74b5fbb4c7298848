import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, postForm, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
/** The refresh token of a session kept alive: each refresh stores one token, and so deletes old rows. */
let live: string;
beforeAll(async () => {
  hub = await startTestHub();
  live = (await signUpUser(hub)).refreshToken;
});
afterAll(() => hub.close());

const DAY_MS = 24 * 3_600_000;
const refresh = (token: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: token });

async function storeOneToken() {
  const response = await refresh(live);
  expect(response.status).toBe(200);
  live = response.body.refresh_token as string;
}

/** A user whose one session has been refreshed `refreshes` times; resolves to their id and that family's. */
async function sessionOf(refreshes: number): Promise<{ familyId: string; token: string }> {
  const user = await signUpUser(hub);
  let token = user.refreshToken;
  for (let i = 0; i < refreshes; i++) token = (await refresh(token)).body.refresh_token as string;
  const row = await hub.services.db.selectFrom('refresh_tokens').select('family_id').where('user_id', '=', user.id).executeTakeFirstOrThrow();
  return { familyId: row.family_id, token };
}

/** Every token of the family expired `daysAgo` days ago (its latest token, when `latestDaysAgo` is given, then). */
async function endFamily(familyId: string, daysAgo: number, latestDaysAgo = daysAgo) {
  const db = hub.services.db;
  await db.updateTable('refresh_tokens').set({ expires_at: new Date(Date.now() - daysAgo * DAY_MS) }).where('family_id', '=', familyId).execute();
  await db.updateTable('refresh_tokens').set({ expires_at: new Date(Date.now() - latestDaysAgo * DAY_MS) }).where('family_id', '=', familyId).where('rotated_at', 'is', null).execute();
}

const rowsOf = async (familyId: string) =>
  hub.services.db.selectFrom('refresh_tokens').select(['id', 'rotated_at']).where('family_id', '=', familyId).execute();

/** A family is deleted 30 days after its last token expired (README): the person's export lists it meanwhile. */
const retentionDays = 30;

describe('refresh-token families that ended long ago', () => {
  it('are deleted as tokens are next stored, their latest row last; their tokens are then unknown', async () => {
    const session = await sessionOf(2);
    expect(await rowsOf(session.familyId)).toHaveLength(3);
    await endFamily(session.familyId, retentionDays + 1);
    await storeOneToken();
    expect(await rowsOf(session.familyId)).toEqual([{ id: expect.any(String), rotated_at: null }]);
    await storeOneToken();
    expect(await rowsOf(session.familyId)).toEqual([]);
    expect(await refresh(session.token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('are deleted a hundred rows at a time, their latest row once it is the last', async () => {
    const session = await sessionOf(0);
    // 149 rotated rows before the session's one token: a family refreshed all month.
    await sql`insert into refresh_tokens (id, family_id, token_hash, user_id, client_id, scope, auth_time, created_at, expires_at, rotated_at)
      select 'rt_rotated' || g, family_id, sha256(convert_to(family_id || g, 'UTF8')), user_id, client_id, scope, auth_time, created_at, expires_at, created_at
      from refresh_tokens, generate_series(1, 149) g where family_id = ${session.familyId}`.execute(hub.services.db);
    await endFamily(session.familyId, retentionDays + 1);
    await storeOneToken();
    const left = await rowsOf(session.familyId);
    expect(left).toHaveLength(50);
    expect(left.filter((row) => row.rotated_at === null)).toHaveLength(1);
    await storeOneToken();
    expect(await rowsOf(session.familyId)).toEqual([{ id: expect.any(String), rotated_at: null }]);
    await storeOneToken();
    expect(await rowsOf(session.familyId)).toEqual([]);
  });

  it('are kept while their last token expired less long ago, and while any of their tokens has not', async () => {
    const recent = await sessionOf(1);
    await endFamily(recent.familyId, retentionDays - 1);
    // Its latest token expired long ago, but not its first (the consent's end moved sooner, say).
    const older = await sessionOf(1);
    await endFamily(older.familyId, retentionDays - 1, retentionDays + 1);
    await storeOneToken();
    expect(await rowsOf(recent.familyId)).toHaveLength(2);
    expect(await rowsOf(older.familyId)).toHaveLength(2);
  });
});

describe('refresh-token families that ended long ago, on an instance nobody signs in to or refreshes at any more', () => {
  it('are deleted all the same, by the hub’s housekeeping; families in their retention stay', async () => {
    const clock = fixedClock('2031-03-01T09:00:00.000Z');
    const idle = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock, housekeepingEveryMs: 50 });
    try {
      const user = await signUpUser(idle);
      let token = user.refreshToken;
      for (let i = 0; i < 2; i++) token = (await postForm(idle, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: token })).body.refresh_token as string;
      const rows = async () => (await idle.services.db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user.id).execute()).length;
      expect(await rows()).toBe(3);

      // Its last token expired (30 days on) 29 days ago: the person's export still lists the session.
      clock.advance((30 + retentionDays - 1) * 24 * 3_600);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await rows()).toBe(3);
      const recent = await signUpUser(idle);

      // And now more than 30 days ago, with no token stored since.
      clock.advance(2 * 24 * 3_600);
      await vi.waitFor(async () => expect(await rows()).toBe(0), { timeout: 5_000, interval: 50 });
      expect(await idle.services.db.selectFrom('refresh_tokens').select('id').where('user_id', '=', recent.id).execute()).toHaveLength(1);
    } finally {
      await idle.close();
    }
  });
});
