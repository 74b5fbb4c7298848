import { beforeAll, describe, expect, it } from 'vitest';
import { approvalWorld } from './approval-fixtures.js';

// What the user approves is what they are shown: the payee's name. A name that shows exactly as
// another, yet is another string, lets an agent (or a page that prompt-injects it) have the user
// approve "Example Shop GmbH" while the payment token, which the commerce API pays by, names a
// different creditor. Spaces other than U+0020 (no-break, ideographic), runs of spaces (which
// HTML shows as one), and characters that show nothing at all (the combining grapheme joiner, the
// soft hyphen, Hangul fillers) must be refused or normalized away in a payee's name. The joiners
// and direction marks some scripts need are refused where they show nothing ("Exam<ZWJ>ple"
// between Latin letters); the braille blank draws as a space.

const { alice, shopper, agentToken, request } = await approvalWorld();

let token: string;
beforeAll(async () => {
  token = await agentToken(shopper, alice);
});

const SHOWN = 'Example Shop GmbH';

describe('a payee name that shows as another', () => {
  it.each([
    ['a no-break space', 'Example\u00a0Shop GmbH'],
    ['an ideographic space', 'Example\u3000Shop GmbH'],
    ['two spaces', 'Example  Shop GmbH'],
    ['a combining grapheme joiner', 'Example Shop\u034f GmbH'],
    ['a soft hyphen', 'Exam\u00adple Shop GmbH'],
    ['a Hangul filler', 'Example Shop\u3164GmbH'],
    ['a zero-width joiner between Latin letters', 'Exam\u200dple Shop GmbH'],
    ['a zero-width non-joiner between Latin letters', 'Exam\u200cple Shop GmbH'],
    ['a left-to-right mark in Latin text', 'Example Shop\u200e GmbH'],
    ['a right-to-left mark in Latin text', 'Example\u200f Shop GmbH'],
    ['a braille blank as a space', 'Example\u2800Shop GmbH'],
  ])('with %s is refused, or stored as it shows', async (_what, creditorName) => {
    const response = await request(token, { action: 'PAY', payment: { amount: '10', currency: 'EUR', creditorName }, expiresInSeconds: 30 });
    const refused = response.errors?.[0]?.extensions?.code === 'BAD_USER_INPUT';
    const stored = response.data?.requestApproval?.authorizationDetails?.creditorName;
    expect(refused || stored === SHOWN || stored === SHOWN.replace(' GmbH', 'GmbH'), `stored ${JSON.stringify(stored)}`).toBe(true);
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
