import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { graphql, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { describeErasureRace } from './erasure-race.js';
import { PAYMENT_REFERENCE } from './privacy-fixtures.js';

// An erasure racing an agent's request for an approval by the same person, on a real server
// (PGlite has one connection, so nothing there runs concurrently), forced into one interleaving
// as in erasure-decommission-race.test.ts. Whichever goes first, no approval outlives the erasure
// and neither deadlocks.

let shopper: RegisteredAgent;

describeErasureRace('erasing a person while their agent asks them for an approval', (race) => {
  const { holding, waiters, erase } = race;
  beforeAll(async () => {
    shopper = await registerAgent(race.hub, race.admin, { name: 'Shopping assistant', allowedScopes: ['payment:read', 'payment:write'] });
  });

  /** A person whose agent holds a delegated token with payment write under a checkout consent. */
  async function personWithAgent() {
    const user = await signUpUser(race.hub);
    await giveConsent(race.hub, user.accessToken, { purpose: 'checkout', agentId: shopper.id, scopes: ['payment:read', 'payment:write'] });
    const exchanged = await exchange(race.hub, shopper, user.accessToken);
    expect(exchanged.status).toBe(200);
    return { user, agentToken: exchanged.body.access_token as string };
  }
  const requestPayment = (token: string) =>
    graphql<any>(race.hub, 'mutation($input: RequestApprovalInput!) { requestApproval(input: $input) { id } }', {
      token,
      variables: { input: { action: 'PAY', payment: { amount: '59.90', currency: 'EUR', creditorName: 'Outdoor Shop ehf', description: PAYMENT_REFERENCE } } },
    });
  const approvalsOf = (userId: string) => race.hub.services.db.selectFrom('approvals').select('id').where('user_id', '=', userId).execute();

  it('the request goes first: the erasure waits for it, then deletes its approval', async () => {
    const { user, agentToken } = await personWithAgent();
    // Holds the person's audit chain: the request waits there, its approval written.
    const held = await holding((tx) => sql`select 1 from audit_chain_heads where chain_key = ${user.id} for update`.execute(tx));
    const requested = requestPayment(agentToken);
    await waiters(1);
    const erased = erase(user.id);
    await waiters(2);
    await held.release();

    const [request, erasure] = await Promise.all([requested, erased]);
    expect(request.errors).toBeUndefined();
    expect(erasure.errors).toBeUndefined();
    expect(await approvalsOf(user.id)).toEqual([]);
  });

  it('the erasure goes first: the request waits for it, then stores nothing', async () => {
    const { user, agentToken } = await personWithAgent();
    // Holds the lock the audience triggers take for the person: the erasure waits there, with
    // the person's approvals deleted and locked.
    const held = await holding((tx) => sql`select pg_advisory_xact_lock(hashtext(${`audience:${user.id}`}))`.execute(tx));
    const erased = erase(user.id);
    await waiters(1);
    const requested = requestPayment(agentToken);
    await waiters(2);
    await held.release();

    const [erasure, request] = await Promise.all([erased, requested]);
    expect(erasure.errors).toBeUndefined();
    expect(request.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await approvalsOf(user.id)).toEqual([]);
  });
});
