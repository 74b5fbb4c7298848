import { beforeAll, describe, expect, it } from 'vitest';
import { approvalWorld } from './approval-fixtures.js';

// approval-payee-lookalikes.test.ts holds that a payee name which shows as another is refused or
// normalized. The joiners and direction marks are let through because some scripts need them; but
// between Latin letters (or anywhere in a name of a script that has no use for them) they show
// nothing at all, so "Exam<ZWJ>ple Shop GmbH" shows exactly as "Example Shop GmbH" and is another
// creditor to the commerce API that pays by the token's name. The braille blank draws as a space.

const { alice, shopper, agentToken, request } = await approvalWorld();

let token: string;
beforeAll(async () => {
  token = await agentToken(shopper, alice);
});

const SHOWN = 'Example Shop GmbH';

describe('a payee name that shows as another', () => {
  it.each([
    ['a zero-width joiner between Latin letters', 'Exam\u200dple Shop GmbH'],
    ['a zero-width non-joiner between Latin letters', 'Exam\u200cple Shop GmbH'],
    ['a left-to-right mark in Latin text', 'Example Shop\u200e GmbH'],
    ['a right-to-left mark in Latin text', 'Example\u200f Shop GmbH'],
    ['a braille blank as a space', 'Example\u2800Shop GmbH'],
  ])('with %s is refused, or stored as it shows', async (_what, creditorName) => {
    const response = await request(token, { action: 'PAY', payment: { amount: '10', currency: 'EUR', creditorName }, expiresInSeconds: 30 });
    const refused = response.errors?.[0]?.extensions?.code === 'BAD_USER_INPUT';
    const stored = response.data?.requestApproval?.authorizationDetails?.creditorName;
    expect(refused || stored === SHOWN, `stored ${JSON.stringify(stored)}`).toBe(true);
  });
});

describe('a payee name whose script needs a joiner or a direction mark', () => {
  it.each([
    ['a Persian name with a zero-width non-joiner', '\u0641\u0631\u0648\u0634\u06af\u0627\u0647 \u0645\u06cc\u200c\u0631\u0648\u062f'],
    ['a Hebrew name with a right-to-left mark', '\u05d7\u05e0\u05d5\u05ea 3\u200f'],
  ])('with %s is kept', async (_what, creditorName) => {
    const response = await request(token, { action: 'PAY', payment: { amount: '10', currency: 'EUR', creditorName }, expiresInSeconds: 30 });
    expect(response.errors).toBeUndefined();
    expect(response.data.requestApproval.authorizationDetails.creditorName).toBe(creditorName);
  });
});
