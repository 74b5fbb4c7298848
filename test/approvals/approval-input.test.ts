import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { signUpUser } from '../helpers/hub.js';
import { approvalWorld, refusal } from './approval-fixtures.js';

const { hub, clock, alice, bob, shopper, rival, agentToken, request, pay, addCard, changeCard } = await approvalWorld();

const PAYMENT = { amount: '10.00', currency: 'EUR', creditorName: 'Shop' };
const CARD = { brand: 'visa', last4: '4242', expMonth: 12, expYear: 2033 };
const countApprovals = async () => Number((await hub.services.db.selectFrom('approvals').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

let token: string;
beforeAll(async () => {
  token = await agentToken(shopper, alice);
  await hub.services.db.insertInto('payment_methods').values({ id: 'pm_ofbob', user_id: bob.id, brand: 'visa', last4: '1111', exp_month: 1, exp_year: 2034, created_at: clock.now() }).execute();
});

describe('requestApproval refuses bad input with BAD_USER_INPUT naming the field, and stores nothing', () => {
  it.each([
    ['a currency that is not ISO 4217', { action: 'PAY', payment: { ...PAYMENT, currency: 'XYZ' } }, 'input.payment.currency'],
    ['a currency in lower case', { action: 'PAY', payment: { ...PAYMENT, currency: 'eur' } }, 'input.payment.currency'],
    ['a withdrawn currency (HRK, replaced by EUR in 2023)', { action: 'PAY', payment: { ...PAYMENT, currency: 'HRK' } }, 'input.payment.currency'],
    ['an ISO 4217 code that is no money (XTS, for testing)', { action: 'PAY', payment: { ...PAYMENT, currency: 'XTS', amount: '5' } }, 'input.payment.currency'],
    ['an ISO 4217 code that is no money (XAU, gold)', { action: 'PAY', payment: { ...PAYMENT, currency: 'XAU', amount: '5' } }, 'input.payment.currency'],
    ['too many decimal places for EUR', { action: 'PAY', payment: { ...PAYMENT, amount: '10.001' } }, 'input.payment.amount'],
    ['any decimal places for JPY', { action: 'PAY', payment: { ...PAYMENT, currency: 'JPY', amount: '100.5' } }, 'input.payment.amount'],
    ['a negative amount', { action: 'PAY', payment: { ...PAYMENT, amount: '-1.00' } }, 'input.payment.amount'],
    ['a zero amount', { action: 'PAY', payment: { ...PAYMENT, amount: '0.00' } }, 'input.payment.amount'],
    ['an amount in exponent notation', { action: 'PAY', payment: { ...PAYMENT, amount: '1e5' } }, 'input.payment.amount'],
    ['an amount with leading zeros', { action: 'PAY', payment: { ...PAYMENT, amount: '007' } }, 'input.payment.amount'],
    ['an amount past 12 digits', { action: 'PAY', payment: { ...PAYMENT, amount: '1000000000000' } }, 'input.payment.amount'],
    ['a huge amount string', { action: 'PAY', payment: { ...PAYMENT, amount: '9'.repeat(10_000) } }, 'input.payment.amount'],
    ['a creditor name past 70 characters', { action: 'PAY', payment: { ...PAYMENT, creditorName: 'x'.repeat(71) } }, 'input.payment.creditorName'],
    ['a reference past 140 characters', { action: 'PAY', payment: { ...PAYMENT, description: 'x'.repeat(141) } }, 'input.payment.description'],
    ['a reference with control characters', { action: 'PAY', payment: { ...PAYMENT, description: 'a\u0007b' } }, 'input.payment.description'],
    ['a reference with a C1 control (NEL)', { action: 'PAY', payment: { ...PAYMENT, description: 'Order 4711\u0085Amount: 1.00 EUR' } }, 'input.payment.description'],
    ['a reference with a line separator', { action: 'PAY', payment: { ...PAYMENT, description: 'Order 4711\u2028Amount: 1.00 EUR, refund to you' } }, 'input.payment.description'],
    ['a reference with a paragraph separator', { action: 'PAY', payment: { ...PAYMENT, description: 'Order 4711\u2029Refund' } }, 'input.payment.description'],
    ['a payee shown reversed by a right-to-left override', { action: 'PAY', payment: { ...PAYMENT, creditorName: 'Shop \u202eHbmG' } }, 'input.payment.creditorName'],
    ['a payee with a bidi isolate', { action: 'PAY', payment: { ...PAYMENT, creditorName: 'Shop \u2067GmbH\u2069' } }, 'input.payment.creditorName'],
    ['a payee with a zero-width space', { action: 'PAY', payment: { ...PAYMENT, creditorName: 'Acme\u200bShop' } }, 'input.payment.creditorName'],
    ['PAY without a payment', { action: 'PAY' }, 'input.payment'],
    ['PAY with a card', { action: 'PAY', payment: PAYMENT, paymentMethod: CARD }, 'input.paymentMethod'],
    ['ADD_PAYMENT_METHOD with a payment', { action: 'ADD_PAYMENT_METHOD', paymentMethod: CARD, payment: PAYMENT }, 'input.payment'],
    ['CHANGE_PAYMENT_METHOD without the method', { action: 'CHANGE_PAYMENT_METHOD', paymentMethod: CARD }, 'input.paymentMethodId'],
    // Else asked as an addition: the user would approve another action than the one the agent named.
    ['CHANGE_PAYMENT_METHOD of an empty method id', { action: 'CHANGE_PAYMENT_METHOD', paymentMethod: CARD, paymentMethodId: '' }, 'input.paymentMethodId'],
    ['CHANGE_PAYMENT_METHOD of a method the user does not have', { action: 'CHANGE_PAYMENT_METHOD', paymentMethod: CARD, paymentMethodId: 'pm_01J0000000000000000000NONE' }, 'input.paymentMethodId'],
    ['CHANGE_PAYMENT_METHOD of another user’s method', { action: 'CHANGE_PAYMENT_METHOD', paymentMethod: CARD, paymentMethodId: 'pm_ofbob' }, 'input.paymentMethodId'],
    ['an unknown card brand', { action: 'ADD_PAYMENT_METHOD', paymentMethod: { ...CARD, brand: 'hypercard' } }, 'input.paymentMethod.brand'],
    ['a card number instead of its last four digits', { action: 'ADD_PAYMENT_METHOD', paymentMethod: { ...CARD, last4: '4242424242424242' } }, 'input.paymentMethod.last4'],
    ['a month 13', { action: 'ADD_PAYMENT_METHOD', paymentMethod: { ...CARD, expMonth: 13 } }, 'input.paymentMethod.expMonth'],
    ['an expired card', { action: 'ADD_PAYMENT_METHOD', paymentMethod: { ...CARD, expMonth: 2, expYear: 2031 } }, 'input.paymentMethod.expYear'],
    ['an expiry under 30 seconds', { action: 'PAY', payment: PAYMENT, expiresInSeconds: 5 }, 'input.expiresInSeconds'],
    ['an expiry over 15 minutes', { action: 'PAY', payment: PAYMENT, expiresInSeconds: 901 }, 'input.expiresInSeconds'],
  ])('%s', async (_what, input, field) => {
    const before = await countApprovals();
    const response = await request(token, input);
    expect(response.data).toBeNull();
    expect(refusal(response)).toBe('BAD_USER_INPUT/');
    expect(response.errors![0]!.extensions!.field).toBe(field);
    expect(response.errors![0]!.message.length).toBeLessThan(300);
    expect(await countApprovals()).toBe(before);
  });
});

describe('accepted input', () => {
  // Each case leaves an approval waiting; an agent may have only 10 at once.
  afterEach(async () => {
    await hub.services.db.updateTable('approvals').set({ status: 'denied', decided_at: clock.now() }).where('status', '=', 'pending').execute();
  });

  it.each([
    ['JPY', '1500', '1500'],
    ['KWD', '2.5', '2.500'],
    // ISO 4217's minor units, where the runtime's display data shows fewer digits.
    ['HUF', '1500.5', '1500.50'],
    ['IDR', '25000.75', '25000.75'],
    ['COP', '9900.10', '9900.10'],
    ['IQD', '1.25', '1.250'],
    ['EUR', '0.01', '0.01'],
    ['EUR', '999999999999.99', '999999999999.99'],
  ])('normalizes an amount in %s: %s reads %s', async (currency, amount, normalized) => {
    const response = await request(token, { action: 'PAY', payment: { ...PAYMENT, currency, amount }, expiresInSeconds: 30 });
    expect(response.data.requestApproval).toMatchObject({ amount: normalized, currency, authorizationDetails: { instructedAmount: { currency, amount: normalized } } });
  });

  it('stores a payee in Unicode NFC, keeping the joiners and direction marks some scripts need', async () => {
    for (const [given, stored] of [
      ['Cafe\u0301 Lumie\u0300re', 'Caf\u00e9 Lumi\u00e8re'],
      ['\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u200fShop', '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u200fShop'],
    ]) {
      const response = await request(token, { action: 'PAY', payment: { ...PAYMENT, creditorName: given }, expiresInSeconds: 30 });
      expect(response.errors).toBeUndefined();
      expect(response.data.requestApproval.authorizationDetails.creditorName).toBe(stored);
    }
  });

  it('accepts a card that expires this month', async () => {
    const response = await request(token, { action: 'ADD_PAYMENT_METHOD', paymentMethod: { ...CARD, expMonth: 3, expYear: 2031 } });
    expect(response.errors).toBeUndefined();
    expect(response.data.requestApproval.expiresAt).toBe(new Date(clock.now().getTime() + 300_000).toISOString());
  });
});

describe('the payment mutations refuse bad input before looking for an approval', () => {
  it('refuses a bad payment with BAD_USER_INPUT', async () => {
    const response = await pay(token, { ...PAYMENT, currency: 'EURO' });
    expect(refusal(response)).toBe('BAD_USER_INPUT/');
    expect(response.errors![0]!.extensions!.field).toBe('input.currency');
  });

  it('refuses a change of an empty method id with BAD_USER_INPUT, not as the addition of the card', async () => {
    const response = await changeCard(token, { id: '', paymentMethod: CARD });
    expect(refusal(response)).toBe('BAD_USER_INPUT/');
    expect(response.errors![0]!.extensions!.field).toBe('input.id');
  });

  it('refuses a bad card with BAD_USER_INPUT', async () => {
    const response = await addCard(token, { ...CARD, last4: 'abcd' });
    expect(refusal(response)).toBe('BAD_USER_INPUT/');
    expect(response.errors![0]!.extensions!.field).toBe('input.last4');
  });
});

describe('limits', () => {
  it('lets an agent have at most 10 approvals waiting for one user, then answers RATE_LIMITED until one expires', async () => {
    const start = clock.now();
    try {
      clock.advance(301);
      const fresh = await agentToken(shopper, alice);
      for (let i = 0; i < 10; i++) {
        clock.advance(1);
        expect((await request(fresh, { action: 'PAY', payment: PAYMENT, expiresInSeconds: 60 })).errors).toBeUndefined();
      }
      const refused = await request(fresh, { action: 'PAY', payment: PAYMENT });
      expect(refused.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 51 });
      clock.advance(51);
      expect((await request(fresh, { action: 'PAY', payment: PAYMENT })).errors).toBeUndefined();
    } finally {
      clock.set(start);
    }
  });

  it('counts the approvals waiting per agent: another agent of the same user still asks', async () => {
    const dave = await signUpUser(hub);
    const fresh = await agentToken(shopper, dave);
    for (let i = 0; i < 10; i++) expect((await request(fresh, { action: 'PAY', payment: PAYMENT })).errors).toBeUndefined();
    expect(refusal(await request(fresh, { action: 'PAY', payment: PAYMENT }))).toBe('RATE_LIMITED/');
    const other = await agentToken(rival, dave);
    expect((await request(other, { action: 'PAY', payment: PAYMENT })).errors).toBeUndefined();
  });

  it('records each request refused past the limit in the user’s trail, as a refused request naming its entry', async () => {
    const carol = await signUpUser(hub);
    const fresh = await agentToken(shopper, carol);
    for (let i = 0; i < 10; i++) expect((await request(fresh, { action: 'PAY', payment: PAYMENT })).errors).toBeUndefined();
    const asked = (await findAuditEvents(hub.services.db, { filter: { userId: carol.id, action: 'approval.requested' }, first: 1 })).edges[0]!.node;

    expect(refusal(await request(fresh, { action: 'PAY', payment: PAYMENT }))).toBe('RATE_LIMITED/');
    await hub.services.audit.flush();
    const refused = (await findAuditEvents(hub.services.db, { filter: { userId: carol.id, action: 'payment.refused' }, first: 100 })).edges.map((e) => e.node);
    expect(refused).toEqual([
      expect.objectContaining({
        actor: { kind: 'delegated', id: shopper.id },
        decision: 'DENY',
        reason: 'RATE_LIMITED',
        consentId: asked.consentId,
        detail: { action: 'PAY', entryHmac: asked.detail.entryHmac, step: 'request' },
      }),
    ]);
  });
});
