import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { graphql, signUpUser } from '../helpers/hub.js';
import { registerAgent } from '../helpers/oauth.js';
import { describeErasureRace } from './erasure-race.js';

// An erasure racing the person's registration of an agent they own, on a real server (PGlite has
// one connection, so nothing there runs concurrently), forced into one interleaving as in
// erasure-decommission-race.test.ts. Whichever goes first, no agent of the person is live after
// the erasure.

describeErasureRace('erasing a person while they register an agent', (race) => {
  const { holding, waiters, erase } = race;

  const register = (token: string) =>
    graphql<any>(race.hub, 'mutation($input: RegisterAgentInput!) { registerAgent(input: $input) { clientId } }', {
      token,
      variables: { input: { name: 'My assistant', kind: 'AI_AGENT', allowedScopes: ['orders:read'] } },
    });
  const agentsOf = (userId: string) => race.hub.services.db.selectFrom('agents').select(['id', 'status']).where('owner_user_id', '=', userId).orderBy('created_at').orderBy('id').execute();

  it('the registration goes first: the erasure waits for it, then decommissions its agent', async () => {
    const user = await signUpUser(race.hub);
    // A first agent starts the person's audit chain, which the registration then waits on; the
    // erasure ends it too, and must find the second.
    const first = await registerAgent(race.hub, user.accessToken, { allowedScopes: ['orders:read'] });
    const held = await holding((tx) => sql`select 1 from audit_chain_heads where chain_key = ${user.id} for update`.execute(tx));
    const registered = register(user.accessToken);
    await waiters(1);
    const erased = erase(user.id);
    await waiters(2);
    await held.release();

    const [registration, erasure] = await Promise.all([registered, erased]);
    expect(registration.errors).toBeUndefined();
    expect(erasure.errors).toBeUndefined();
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: false, agentsDecommissioned: 2 });
    expect(await agentsOf(user.id)).toEqual([
      { id: first.id, status: 'decommissioned' },
      { id: registration.data.registerAgent.clientId, status: 'decommissioned' },
    ]);
  });

  it('the erasure goes first: the registration waits for it, then is refused and stores nothing', async () => {
    const user = await signUpUser(race.hub);
    // Holds the lock the audience triggers take for the person: the erasure waits there, with
    // the person's row locked.
    const held = await holding((tx) => sql`select pg_advisory_xact_lock(hashtext(${`audience:${user.id}`}))`.execute(tx));
    const erased = erase(user.id);
    await waiters(1);
    const registered = register(user.accessToken);
    // A registration that does not wait for the erasure ends first, and is seen below.
    await Promise.race([waiters(2), registered]);
    await held.release();

    const [erasure, registration] = await Promise.all([erased, registered]);
    expect(erasure.errors).toBeUndefined();
    expect(registration.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await agentsOf(user.id)).toEqual([]);
  });
});
