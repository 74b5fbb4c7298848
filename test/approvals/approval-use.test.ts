import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { principalFromToken, type TokenClaims } from '../../src/authz/principal.js';
import { addPaymentMethod, authorizePayment } from '../../src/consent/approval.payment.service.js';
import { testServerUrl } from '../helpers/database.js';
import { graphql, signUpUser } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { claimsOf, registerAgent } from '../helpers/oauth.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

// What a use of an approval stands on (the consent in force and the user's, every agent of the
// chain and its ancestors active) was read by the request's token check; the transaction that
// uses the approval holds it and reads it again. A suspension or withdrawal committed in between
// is refused there, the approval left unused and the refusal audited; one committed later waits
// for the use.

const world = await approvalWorld();
const { hub, admin, alice, bob, shopper, agentToken, request, answerAfresh, approvedPayment, pay, addCard } = world;

const PAYMENT = { amount: '250.00', currency: 'EUR', creditorName: 'Race Shop' };
const CARD = { brand: 'visa', last4: '4242', expMonth: 12, expYear: 2033 };
const PAYMENT_SCOPES = ['payment:read', 'payment:write'];

/** The caller as the token check made it from `token`, before anything changed. */
const checkedCaller = (token: string, requestId: string) => ({ principal: principalFromToken(claimsOf(token) as TokenClaims)!, requestId });
const approvalRow = (id: string) => hub.services.db.selectFrom('approvals').select(['status', 'used_at']).where('id', '=', id).executeTakeFirstOrThrow();
const cardsOf = (userId: string) => hub.services.db.selectFrom('payment_methods').select('id').where('user_id', '=', userId).execute();
const auditOfRequest = (requestId: string) =>
  hub.services.db.selectFrom('audit_events').select(['action', 'decision', 'reason', 'subject_user_id']).where('request_id', '=', requestId).orderBy('occurred_at').orderBy('id').execute();
const suspendUser = (userId: string) => graphql<any>(hub, 'mutation($id: ID!) { suspendUser(id: $id) { status } }', { token: admin, variables: { id: userId } });
const suspend = (agentId: string) => graphql<any>(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agentId } });
const withdraw = (user: { accessToken: string }, consentId: string) =>
  graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: user.accessToken, variables: { id: consentId } });

/** Has the user approve adding CARD, asked with `token`; resolves to the approval id. */
async function approvedCard(token: string, user: { email: string }): Promise<string> {
  const asked = await request(token, { action: 'ADD_PAYMENT_METHOD', paymentMethod: CARD });
  const id = asked.data.requestApproval.id as string;
  expect((await answerAfresh(user, 'approve', id)).data.approve.status).toBe('APPROVED');
  return id;
}

describe('a use of an approval after its token check', () => {
  it('gives no payment token once the agent was suspended, leaves the approval unused, and audits the refusal', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Soon suspended', allowedScopes: PAYMENT_SCOPES });
    const delegated = await agentToken(agent, alice);
    const id = await approvedPayment(delegated, alice, PAYMENT);
    const caller = checkedCaller(delegated, 'use-after-suspension');
    expect((await suspend(agent.id)).data.suspendAgent.status).toBe('SUSPENDED');

    await expect(authorizePayment(hub.services, PAYMENT, caller)).rejects.toMatchObject({ extensions: { code: 'FORBIDDEN', reason: 'AGENT_INACTIVE' } });
    expect(await approvalRow(id)).toEqual({ status: 'approved', used_at: null });
    expect(await auditOfRequest('use-after-suspension')).toEqual([{ action: 'payment.refused', decision: 'deny', reason: 'AGENT_INACTIVE', subject_user_id: alice.id }]);
  });

  it('gives no payment token once an ancestor of the agent was suspended', async () => {
    const parent = await registerAgent(hub, admin, { name: 'Orchestrator', allowedScopes: PAYMENT_SCOPES });
    const child = await registerAgent(hub, admin, { name: 'Checkout worker', allowedScopes: PAYMENT_SCOPES, parentAgentId: parent.id });
    const delegated = await agentToken(child, bob);
    const id = await approvedPayment(delegated, bob, PAYMENT);
    const caller = checkedCaller(delegated, 'use-after-parent-suspension');
    expect((await suspend(parent.id)).data.suspendAgent.status).toBe('SUSPENDED');

    await expect(authorizePayment(hub.services, PAYMENT, caller)).rejects.toMatchObject({ extensions: { code: 'FORBIDDEN', reason: 'AGENT_INACTIVE' } });
    expect(await approvalRow(id)).toEqual({ status: 'approved', used_at: null });
  });

  it('gives no payment token once the user was suspended, leaves the approval unused, and audits the refusal', async () => {
    const carol = await signUpUser(hub, { givenName: 'Carol' });
    const delegated = await agentToken(shopper, carol);
    const id = await approvedPayment(delegated, carol, PAYMENT);
    const caller = checkedCaller(delegated, 'use-after-user-suspension');
    expect((await suspendUser(carol.id)).data.suspendUser.status).toBe('SUSPENDED');

    await expect(authorizePayment(hub.services, PAYMENT, caller)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(await approvalRow(id)).toEqual({ status: 'approved', used_at: null });
    expect(await auditOfRequest('use-after-user-suspension')).toEqual([{ action: 'payment.refused', decision: 'deny', reason: 'USER_INACTIVE', subject_user_id: carol.id }]);
  });

  it('adds no card once the consent was withdrawn, leaves the approval unused, and audits the refusal', async () => {
    const delegated = await agentToken(shopper, bob);
    const id = await approvedCard(delegated, bob);
    const caller = checkedCaller(delegated, 'use-after-withdrawal');
    expect((await withdraw(bob, claimsOf(delegated).consent_id)).data.withdrawConsent.status).toBe('WITHDRAWN');

    await expect(addPaymentMethod(hub.services, CARD, caller)).rejects.toMatchObject({ extensions: { code: 'FORBIDDEN', reason: 'CONSENT_WITHDRAWN' } });
    expect(await cardsOf(bob.id)).toEqual([]);
    expect(await approvalRow(id)).toEqual({ status: 'approved', used_at: null });
    expect(await auditOfRequest('use-after-withdrawal')).toEqual([{ action: 'payment.refused', decision: 'deny', reason: 'CONSENT_WITHDRAWN', subject_user_id: bob.id }]);
  });
});

// Races between the per-request token check and the transaction that uses the approval, forced on
// a real server (PGlite has one connection).
describe.skipIf(testServerUrl() === undefined)('a use racing a suspension or a withdrawal', () => {
  const { holding, waiters } = lockHolder(() => hub.services.db);

  /** Resolves once `done()` or `count` sessions wait on a lock. */
  async function doneOrWaiting(done: () => boolean, count: number): Promise<void> {
    for (let tries = 0; tries < 200 && !done(); tries += 1) {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(hub.services.db);
      if (rows[0]!.n >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    if (!done()) throw new Error(`the change neither finished nor waited on a lock`);
  }

  /**
   * Starts `use` and holds it at its UPDATE of approvals (a transaction holds the table in SHARE
   * mode), after its token check and its own locks; runs `change` meanwhile, then lets the use go on.
   */
  async function race<T, U>(use: () => Promise<T>, change: () => Promise<U>) {
    const held = await holding((tx) => sql`lock table approvals in share mode`.execute(tx));
    const using = use();
    await waiters(1);
    let finished = false;
    const changing = change().finally(() => void (finished = true));
    await doneOrWaiting(() => finished, 2);
    const changedFirst = finished;
    await held.release();
    return { used: await using, changed: await changing, changedFirst };
  }

  it('makes a suspension wait for the use under way, which gives its payment token first', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Suspended while paying', allowedScopes: PAYMENT_SCOPES });
    const delegated = await agentToken(agent, alice);
    const id = await approvedPayment(delegated, alice, PAYMENT);

    const { used: paid, changed, changedFirst } = await race(() => pay(delegated, PAYMENT), () => suspend(agent.id));
    expect(changedFirst).toBe(false);
    expect(paid.errors).toBeUndefined();
    expect(paid.data.authorizePayment.approval).toMatchObject({ id, status: 'USED' });
    expect(changed.data.suspendAgent.status).toBe('SUSPENDED');
  });

  it('makes a suspension of the user wait for the use under way, which gives its payment token first', async () => {
    const dave = await signUpUser(hub, { givenName: 'Dave' });
    const delegated = await agentToken(shopper, dave);
    const id = await approvedPayment(delegated, dave, PAYMENT);

    const { used: paid, changed, changedFirst } = await race(() => pay(delegated, PAYMENT), () => suspendUser(dave.id));
    expect(changedFirst).toBe(false);
    expect(paid.errors).toBeUndefined();
    expect(paid.data.authorizePayment.approval).toMatchObject({ id, status: 'USED' });
    expect(changed.data.suspendUser.status).toBe('SUSPENDED');
  });

  it('makes a withdrawal wait for the use under way, which adds its card first', async () => {
    const delegated = await agentToken(shopper, alice);
    await approvedCard(delegated, alice);

    const { used: added, changed, changedFirst } = await race(() => addCard(delegated, CARD), () => withdraw(alice, claimsOf(delegated).consent_id));
    expect(changedFirst).toBe(false);
    expect(added.errors).toBeUndefined();
    expect(await cardsOf(alice.id)).toEqual([{ id: added.data.addPaymentMethod.id }]);
    expect(changed.data.withdrawConsent.status).toBe('WITHDRAWN');
  });

  it('audits a payment refused in the use’s own transaction, once it rolled back (agent suspended after the token check)', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Suspended before the use', allowedScopes: PAYMENT_SCOPES });
    const delegated = await agentToken(agent, bob);
    const id = await approvedPayment(delegated, bob, PAYMENT);
    const refusedOf = async () => (await hub.services.db.selectFrom('audit_events').select(['decision', 'reason']).where('subject_user_id', '=', bob.id).where('action', '=', 'payment.refused').execute()).filter((row) => row.reason === 'AGENT_INACTIVE');
    const before = await refusedOf();

    // The user's consent lock, which the use takes first: it waits there, past its token check.
    const held = await holding((tx) => hub.services.consents.lockConsentsOfUser(tx, bob.id));
    const paying = pay(delegated, PAYMENT);
    await waiters(1);
    expect((await suspend(agent.id)).data.suspendAgent.status).toBe('SUSPENDED');
    await held.release();

    const paid = await paying;
    expect(paid.data?.authorizePayment ?? null).toBeNull();
    expect(refusal(paid)).toBe('FORBIDDEN/AGENT_INACTIVE');
    expect(await approvalRow(id)).toEqual({ status: 'approved', used_at: null });
    expect(await refusedOf()).toEqual([...before, { decision: 'deny', reason: 'AGENT_INACTIVE' }]);
  });
});
