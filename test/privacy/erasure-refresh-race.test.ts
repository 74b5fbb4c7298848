import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { postForm, signUpUser } from '../helpers/hub.js';
import { describeErasureRace } from './erasure-race.js';

// An erasure racing a refresh of the person's session, on a real server (PGlite has one
// connection, so nothing there runs concurrently), forced into one interleaving as in
// erasure-consent-race.test.ts. Whichever goes first, no session of the person is left that the
// erasure did not end, and the erasure counts it.

describeErasureRace('erasing a person while their session is refreshed', (race) => {
  const { holding, waiters, erase } = race;

  const refresh = (refreshToken: string) => postForm(race.hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'hub-frontend' });
  /** The person's refresh-token families that no revocation has ended: none of their tokens revoked. */
  const unendedFamilies = async (userId: string) =>
    (
      await sql<{ family_id: string }>`select family_id from refresh_tokens where user_id = ${userId}
        group by family_id having bool_and(revoked_at is null)`.execute(race.hub.services.db)
    ).rows;

  it('the refresh goes first: the erasure waits for the token it uses, then ends the family the new one continues', async () => {
    const user = await signUpUser(race.hub);
    // The refresh audits in the person's chain once it has rotated the token and stored the next one.
    const held = await holding((tx) => sql`select 1 from audit_chain_heads where chain_key = ${user.id} for update`.execute(tx));
    const refreshed = refresh(user.refreshToken);
    await waiters(1);
    const erased = erase(user.id);
    await waiters(2);
    await held.release();

    const [refreshing, erasure] = await Promise.all([refreshed, erased]);
    expect(refreshing.status).toBe(200);
    expect(erasure.errors).toBeUndefined();
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: false, refreshTokensRevoked: 1 });
    expect(await unendedFamilies(user.id)).toEqual([]);
    expect((await refresh(refreshing.body.refresh_token)).body).toMatchObject({ error: 'invalid_grant' });
  });

  it('the erasure goes first: the refresh waits for it, then is refused', async () => {
    const user = await signUpUser(race.hub);
    // Holds the lock the audience triggers take for the person: the erasure waits there, with
    // the person's refresh token revoked and locked.
    const held = await holding((tx) => sql`select pg_advisory_xact_lock(hashtext(${`audience:${user.id}`}))`.execute(tx));
    const erased = erase(user.id);
    await waiters(1);
    const refreshed = refresh(user.refreshToken);
    await waiters(2);
    await held.release();

    const [erasure, refreshing] = await Promise.all([erased, refreshed]);
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: false, refreshTokensRevoked: 1 });
    expect(refreshing.body).toMatchObject({ error: 'invalid_grant' });
    expect(await unendedFamilies(user.id)).toEqual([]);
  });
});
