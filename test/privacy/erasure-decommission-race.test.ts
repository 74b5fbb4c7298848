import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { insertConsent } from '../../src/consent/consent.queries.js';
import { findPurpose } from '../../src/consent/purposes.js';
import { newId } from '../../src/shared/ids.js';
import { graphql, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, registerAgent } from '../helpers/oauth.js';
import { describeErasureRace } from './erasure-race.js';

// An erasure racing the decommissioning of an agent that acts for the same person, on a real
// server (PGlite has one connection, so nothing there runs concurrently). Each race is forced
// into one interleaving by a transaction that holds a lock the first contender needs midway; the
// test releases it once both contenders are seen waiting. Whatever the interleaving, both must
// succeed: a deadlock aborts one of them, which the client sees as INTERNAL_SERVER_ERROR.

describeErasureRace('erasing a person while an agent acting for them is decommissioned', (race) => {
  const { holding, waiters, erase } = race;

  const decommission = (id: string) => graphql<any>(race.hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: race.admin, variables: { id } });
  const statusOf = async (table: 'agents' | 'consents' | 'users', id: string) => (await race.hub.services.db.selectFrom(table).select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

  it('the agent is their own: the erasure has withdrawn their consent to it when the decommissioning starts', async () => {
    const user = await signUpUser(race.hub);
    const agent = await registerAgent(race.hub, user.accessToken, { name: 'Own helper', allowedScopes: ['orders:read'] });
    const consentId = await giveConsent(race.hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    // Holds the lock the audience triggers take for the user: the erasure waits there, right
    // after withdrawing the user's consents.
    const held = await holding((tx) => sql`select pg_advisory_xact_lock(hashtext(${`audience:${user.id}`}))`.execute(tx));
    const erased = erase(user.id);
    await waiters(1);
    const decommissioned = decommission(agent.id);
    await waiters(2);
    await held.release();

    const [erasure, decommissioning] = await Promise.all([erased, decommissioned]);
    expect(erasure.errors).toBeUndefined();
    expect(decommissioning.errors).toBeUndefined();
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: false, consentsWithdrawn: 1, agentsDecommissioned: 1 });
    expect(decommissioning.data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect(await statusOf('users', user.id)).toBe('erased');
    expect(await statusOf('consents', consentId)).toBe('withdrawn');
  });

  it('the agent acts for them with a refresh token: the decommissioning has locked their consent to it when the erasure starts', async () => {
    const user = await signUpUser(race.hub);
    const agent = await registerAgent(race.hub, race.admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'offline_access'] });
    const consentId = await giveConsent(race.hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const exchanged = await exchange(race.hub, agent, user.accessToken, { scope: 'orders:read offline_access' });
    expect(exchanged.body.refresh_token).toEqual(expect.any(String));
    // Holds the consent: the decommissioning waits for it with the agent locked.
    const held = await holding((tx) => tx.selectFrom('consents').select('id').where('id', '=', consentId).forUpdate().execute());
    const decommissioned = decommission(agent.id);
    await waiters(1);
    const erased = erase(user.id);
    await waiters(2);
    await held.release();

    const [erasure, decommissioning] = await Promise.all([erased, decommissioned]);
    expect(erasure.errors).toBeUndefined();
    expect(decommissioning.errors).toBeUndefined();
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: false, agentsDecommissioned: 0 });
    expect(decommissioning.data.decommissionAgent.status).toBe('DECOMMISSIONED');
    expect(await statusOf('users', user.id)).toBe('erased');
    expect(await statusOf('consents', consentId)).toBe('withdrawn');
    expect(await statusOf('agents', agent.id)).toBe('decommissioned');
    const live = await race.hub.services.db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
    expect(live).toEqual([]);
  });

  it('the person was erased already: the erasure waits for the agents before their consents to them', async () => {
    const owner = await signUpUser(race.hub);
    const parent = await registerAgent(race.hub, owner.accessToken, { name: 'Parent', allowedScopes: ['orders:read'] });
    const child = await registerAgent(race.hub, owner.accessToken, { name: 'Child', allowedScopes: ['orders:read'], parentAgentId: parent.id });
    const user = await signUpUser(race.hub);
    expect((await erase(user.id)).data.eraseUser).toMatchObject({ alreadyErased: false });
    // Consents left in force to both agents, as ones given while the first erasure ran would be:
    // the one to the child first by id, so that an erasure locking its consents alone holds it
    // while it waits for the other.
    const support = (await findPurpose(race.hub.services.db, 'support'))!;
    const [childConsent, parentConsent] = [newId('cns'), newId('cns')].sort();
    for (const [id, agentId] of [[childConsent!, child.id], [parentConsent!, parent.id]] as const) {
      const consent = { id, userId: user.id, purpose: 'support', agentId, scopes: ['orders:read'], givenAt: race.hub.services.clock.now(), expiresAt: null };
      await insertConsent(race.hub.services.db, { ...consent, collectionMethod: 'self_service', policyVersion: support.version, receipt: null });
    }
    // Holds the owner's audit chain: the decommissioning waits there, with both agents locked and
    // its consent to the parent withdrawn, before it withdraws the one to the child.
    const held = await holding((tx) => tx.selectFrom('audit_chain_heads').select('seq').where('chain_key', '=', owner.id).forUpdate().execute());
    const decommissioned = decommission(parent.id);
    await waiters(1);
    const erased = erase(user.id);
    await waiters(2);
    await held.release();

    const [erasure, decommissioning] = await Promise.all([erased, decommissioned]);
    expect(erasure.errors).toBeUndefined();
    expect(decommissioning.errors).toBeUndefined();
    expect(erasure.data.eraseUser).toMatchObject({ alreadyErased: true, consentsWithdrawn: 0 });
    expect(await statusOf('consents', childConsent!)).toBe('withdrawn');
    expect(await statusOf('consents', parentConsent!)).toBe('withdrawn');
    expect(await statusOf('agents', child.id)).toBe('decommissioned');
  });
});
