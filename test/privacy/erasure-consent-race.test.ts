import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';
import { describeErasureRace } from './erasure-race.js';

// An erasure racing the person's own giveConsent, on a real server (PGlite has one connection,
// so nothing there runs concurrently), forced into one interleaving as in
// erasure-decommission-race.test.ts. Whichever goes first, no consent of the person is in force
// after the erasure.

describeErasureRace('erasing a person while they give a consent', (race) => {
  const { holding, waiters, erase } = race;

  const give = (token: string) => graphql<any>(race.hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', { token, variables: { input: { purpose: 'personalization' } } });
  const consentsOf = (userId: string) => race.hub.services.db.selectFrom('consents').select(['purpose', 'status']).where('user_id', '=', userId).orderBy('purpose').execute();

  it('the consent goes first: the erasure waits for it, then withdraws it', async () => {
    const user = await signUpUser(race.hub);
    // A first consent starts the person's audit chain, which the next one then waits on.
    await giveConsent(race.hub, user.accessToken, {});
    const held = await holding((tx) => sql`select 1 from audit_chain_heads where chain_key = ${user.id} for update`.execute(tx));
    const given = give(user.accessToken);
    await waiters(1);
    const erased = erase(user.id);
    await waiters(2);
    await held.release();

    const [giving, erasure] = await Promise.all([given, erased]);
    expect(giving.errors).toBeUndefined();
    expect(erasure.errors).toBeUndefined();
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: false, consentsWithdrawn: 2 });
    expect(await consentsOf(user.id)).toEqual([
      { purpose: 'personalization', status: 'withdrawn' },
      { purpose: 'support', status: 'withdrawn' },
    ]);
  });

  it('the erasure goes first: the consent waits for it, then is refused and stores nothing', async () => {
    const user = await signUpUser(race.hub);
    // Holds the lock the audience triggers take for the person: the erasure waits there, with
    // the person's consents locked.
    const held = await holding((tx) => sql`select pg_advisory_xact_lock(hashtext(${`audience:${user.id}`}))`.execute(tx));
    const erased = erase(user.id);
    await waiters(1);
    const given = give(user.accessToken);
    await waiters(2);
    await held.release();

    const [erasure, giving] = await Promise.all([erased, given]);
    expect(erasure.errors).toBeUndefined();
    expect(giving.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await consentsOf(user.id)).toEqual([]);
  });

  it('the erasure has the person’s consents when the consent reaches the agent: the consent waits, then is refused', async () => {
    const user = await signUpUser(race.hub);
    const agent = await registerAgent(race.hub, race.admin, { name: 'Support assistant', allowedScopes: ['orders:read'] });
    const earlier = await giveConsent(race.hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    // Holds the agent: the erasure waits to lock it, the consent to check it.
    const held = await holding((tx) => tx.selectFrom('agents').select('id').where('id', '=', agent.id).forUpdate().execute());
    const erased = erase(user.id);
    await waiters(1);
    const given = graphql<any>(race.hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', {
      token: user.accessToken,
      variables: { input: { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] } },
    });
    await waiters(2);
    await held.release();

    const [erasure, giving] = await Promise.all([erased, given]);
    expect(erasure.errors).toBeUndefined();
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: false, consentsWithdrawn: 1 });
    expect(giving.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await race.hub.services.db.selectFrom('consents').select(['id', 'status']).where('user_id', '=', user.id).execute()).toEqual([{ id: earlier, status: 'withdrawn' }]);
  });
});
