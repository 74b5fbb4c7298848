import { createHash, createHmac } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { findAuditEvents, type AuditEvent } from '../../src/audit/audit.service.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { loadConfig } from '../../src/config.js';
import { paymentDetail, paymentMethodDetail, type AuthorizationDetail } from '../../src/consent/approval.details.js';
import { sortKeys } from '../../src/shared/canonical-json.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { ERASE, PAYMENT_REFERENCE, customer, paymentApprovals } from './privacy-fixtures.js';

// The audit trail names a payment entry (a card, a payee, a reference) by an HMAC under a key of
// the person's own, which their erasure deletes: a plain hash of an entry is reversed by trying
// every entry, and the trail is kept after the erasure.

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
let admin: string;
let shopper: RegisteredAgent;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  shopper = await registerAgent(hub, admin, { name: 'Shopping assistant', allowedScopes: ['payment:read', 'payment:write'] });
});
afterAll(() => hub.close());

const canonical = (entry: AuthorizationDetail) => JSON.stringify(sortKeys(entry));
const sha256 = (entry: AuthorizationDetail) => createHash('sha256').update(canonical(entry)).digest('hex');
const hmac = (key: Uint8Array, entry: AuthorizationDetail) => createHmac('sha256', key).update(canonical(entry)).digest('hex');

/** What `paymentApprovals` asks approval for. */
const PAYMENT = paymentDetail({ amount: '59.90', currency: 'EUR', creditorName: 'Outdoor Shop ehf', description: PAYMENT_REFERENCE });
const CARD = paymentMethodDetail({ brand: 'visa', last4: '7319', expMonth: 4, expYear: 2033 });

const entryKeyOf = async (userId: string) =>
  (await hub.services.db.selectFrom('users').select('entry_hmac_key').where('id', '=', userId).executeTakeFirstOrThrow()).entry_hmac_key;
const eventsOf = async (userId: string, actions: readonly string[]): Promise<AuditEvent[]> => {
  await hub.services.audit.flush();
  const events = (await findAuditEvents(hub.services.db, { filter: { userId }, first: 100 })).edges.map((e) => e.node);
  return events.filter((event) => actions.includes(event.action));
};

/** The agent's delegated token for the user under a checkout consent with payment write (or only `scopes`). */
async function shopperToken(user: { accessToken: string; email: string }, scopes = ['payment:read', 'payment:write']): Promise<string> {
  await giveConsent(hub, user.accessToken, { purpose: 'checkout', agentId: shopper.id, scopes });
  const exchanged = await exchange(hub, shopper, (await signIn(hub, user)).accessToken);
  expect(exchanged.status).toBe(200);
  return exchanged.body.access_token;
}
const requestPayment = (token: string) =>
  graphql<any>(hub, 'mutation($input: RequestApprovalInput!) { requestApproval(input: $input) { id } }', {
    token,
    variables: { input: { action: 'PAY', payment: { amount: '59.90', currency: 'EUR', creditorName: 'Outdoor Shop ehf', description: PAYMENT_REFERENCE } } },
  });
const pay = (token: string) =>
  graphql<any>(hub, 'mutation($input: PaymentInput!) { authorizePayment(input: $input) { accessToken } }', {
    token,
    variables: { input: { amount: '59.90', currency: 'EUR', creditorName: 'Outdoor Shop ehf', description: PAYMENT_REFERENCE } },
  });

describe('the audit trail of a person’s approvals', () => {
  it('names each entry by an HMAC under the person’s own key, never by a hash anyone can recompute', async () => {
    const alice = await customer(hub, { givenName: 'Alice', familyName: 'Erasmus' }, clock.now());
    await paymentApprovals(hub, shopper, alice.accessToken);
    const key = await entryKeyOf(alice.id);
    expect(key).toHaveLength(32);
    const events = await eventsOf(alice.id, ['approval.requested', 'approval.answered']);
    expect(events.map((e) => [e.action, e.detail.action, e.detail.entryHmac]).sort()).toEqual(
      [
        ['approval.answered', 'PAY', hmac(key!, PAYMENT)],
        ['approval.requested', 'ADD_PAYMENT_METHOD', hmac(key!, CARD)],
        ['approval.requested', 'PAY', hmac(key!, PAYMENT)],
      ].sort(),
    );
    const trail = JSON.stringify(events);
    expect(trail).not.toContain(sha256(PAYMENT));
    expect(trail).not.toContain(sha256(CARD));
  });

  it('gives another person another key, so the same entry is named differently in each trail', async () => {
    const [dora, erin] = [await signUpUser(hub), await signUpUser(hub)];
    for (const user of [dora, erin]) expect((await requestPayment(await shopperToken(user))).errors).toBeUndefined();
    const [doraKey, erinKey] = [await entryKeyOf(dora.id), await entryKeyOf(erin.id)];
    expect(Buffer.from(doraKey!).equals(Buffer.from(erinKey!))).toBe(false);
    const [ofDora] = await eventsOf(dora.id, ['approval.requested']);
    const [ofErin] = await eventsOf(erin.id, ['approval.requested']);
    expect([ofDora!.detail.entryHmac, ofErin!.detail.entryHmac]).toEqual([hmac(doraKey!, PAYMENT), hmac(erinKey!, PAYMENT)]);
  });

  it('creates no key for a request refused before it runs, which then names the action alone', async () => {
    const frank = await signUpUser(hub);
    const readOnly = await shopperToken(frank, ['payment:read']);
    expect((await requestPayment(readOnly)).errors?.[0]?.extensions?.reason).toBe('MISSING_SCOPE');
    expect(await entryKeyOf(frank.id)).toBeNull();
    expect((await eventsOf(frank.id, ['payment.refused'])).map((e) => e.detail)).toEqual([{ action: 'PAY', step: 'request' }]);
  });

  it('creates the key for a payment refused in the transaction of its use, and keeps it for the request that follows', async () => {
    const grace = await signUpUser(hub);
    const token = await shopperToken(grace);
    expect((await pay(token)).errors?.[0]?.extensions?.reason).toBe('APPROVAL_REQUIRED');
    const key = await entryKeyOf(grace.id);
    expect(key).toHaveLength(32);
    expect((await requestPayment(token)).errors).toBeUndefined();
    expect(Buffer.from((await entryKeyOf(grace.id))!).equals(Buffer.from(key!))).toBe(true);
    const events = await eventsOf(grace.id, ['payment.refused', 'approval.requested']);
    expect(events.map((e) => [e.action, e.detail.entryHmac]).sort()).toEqual([
      ['approval.requested', hmac(key!, PAYMENT)],
      ['payment.refused', hmac(key!, PAYMENT)],
    ]);
  });
});

describe('erasing the person', () => {
  it('deletes their key: the kept trail still verifies, and its HMACs lead to no card', async () => {
    const alice = await customer(hub, { givenName: 'Alice', familyName: 'Shredded' }, clock.now());
    await paymentApprovals(hub, shopper, alice.accessToken);
    const key = await entryKeyOf(alice.id);
    expect(key).toHaveLength(32);
    const erased = await graphql<any>(hub, ERASE, { token: admin, variables: { id: alice.id } });
    expect(erased.data.eraseUser).toMatchObject({ approvalsDeleted: 2 });

    expect(await entryKeyOf(alice.id)).toBeNull();
    const [requested] = (await eventsOf(alice.id, ['approval.requested'])).filter((e) => e.detail.action === 'ADD_PAYMENT_METHOD');
    // What was kept is what was written; without the key, trying every card matches nothing.
    expect(requested!.detail.entryHmac).toBe(hmac(key!, CARD));
    expect(requested!.detail.entryHmac).not.toBe(sha256(CARD));
    expect(JSON.stringify(await eventsOf(alice.id, ['approval.requested', 'approval.answered', 'payment.refused']))).not.toContain(sha256(CARD));
    expect((await verifyAuditChains(hub.services.db)).broken).toBeUndefined();
  });

  it('is held to it by the database: an erased person cannot get a key again', async () => {
    const henry = await signUpUser(hub);
    expect((await graphql<any>(hub, ERASE, { token: admin, variables: { id: henry.id } })).errors).toBeUndefined();
    await expect(sql`update users set entry_hmac_key = ${Buffer.alloc(32, 1)} where id = ${henry.id}`.execute(hub.services.db)).rejects.toThrow(/users_erased_without_entry_hmac_key/);
  });
});

describe.skipIf(testServerUrl() === undefined)('two transactions creating a person’s key at once', () => {
  const { holding, waiters } = lockHolder(() => hub.services.db);

  it('agree on one key: the second reads back the first’s', async () => {
    const ivy = await signUpUser(hub);
    const token = await shopperToken(ivy);
    // Holds Ivy's row FOR SHARE, as a use of an approval does: each refused payment creates the
    // key after its use rolls back, and both wait here with none stored yet.
    const held = await holding((tx) => sql`select 1 from users where id = ${ivy.id} for share`.execute(tx));
    const refusals = [pay(token), pay(token)];
    await waiters(2);
    await held.release();
    for (const refused of await Promise.all(refusals)) expect(refused.errors?.[0]?.extensions?.reason).toBe('APPROVAL_REQUIRED');

    const key = await entryKeyOf(ivy.id);
    const events = await eventsOf(ivy.id, ['payment.refused']);
    expect(events.map((e) => e.detail.entryHmac)).toEqual([hmac(key!, PAYMENT), hmac(key!, PAYMENT)]);
  });
});
