import currencyCodes from 'currency-codes';
import { z } from 'zod';
import { plainText } from '../shared/input.js';
import { APPROVAL_ACTIONS, paymentDetail, paymentMethodDetail, type AuthorizationDetail } from './approval.details.js';

/** How long an approval waits for its answer and then for its use, by default and at most (seconds). */
export const APPROVAL_TTL = Object.freeze({ default: 300, min: 30, max: 900 });

/**
 * The codes ISO 4217 lists with no minor unit ("N.A."), which the package reads as 0 digits:
 * precious metals, bond-market and fund units, the SDR, the SUCRE, and the testing and
 * no-currency codes. None is money a payee is paid in.
 */
const NOT_MONEY = new Set(['XAG', 'XAU', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XPD', 'XPT', 'XSU', 'XTS', 'XUA', 'XXX']);

/**
 * Digits after the decimal point of a current ISO 4217 currency's minor unit (2 for EUR and HUF,
 * 0 for JPY, 3 for KWD), from the ISO list itself: not from the runtime's display data, which
 * shows some currencies with fewer digits than they have and still knows withdrawn codes, so an
 * amount would read differently from one Node.js release to the next. Undefined for any other
 * code, and for those that are not money (NOT_MONEY).
 */
const minorDigits = (code: string): number | undefined => (NOT_MONEY.has(code) ? undefined : currencyCodes.code(code)?.digits);

/** Largest amount an approval can name: 12 integer digits. */
const MAX_INTEGER_DIGITS = 12;

const currency = z
  .string()
  .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code in capitals, such as EUR')
  .refine((code) => minorDigits(code) !== undefined, 'must be a current ISO 4217 currency code');

/**
 * The default ignorable code points (the soft hyphen, the combining grapheme joiner, the variation
 * selectors...) and the Hangul fillers fonts draw as a blank, but for the joiners (U+200C, U+200D),
 * the direction marks and the Mongolian vowel separator, which scripts need (see `plainText`).
 */
const INVISIBLE_IN_NAME = /(?![\u200c-\u200f\u180e])[\p{Default_Ignorable_Code_Point}\u3164\uffa0\u115f\u1160]/u;
const NON_JOINING = /(?:^|[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}\p{Script=Common}\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}])[\u200c\u200d]/u;
const RIGHT_TO_LEFT = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Adlam}]/u;
/**
 * Whether a payee's name holds a character that shows nothing there, and so makes it show as
 * another name ("Exam<ZWJ>ple" shows as "Example"): one of `INVISIBLE_IN_NAME`; a joiner (U+200C,
 * U+200D) after a character of a script that does not join (Latin, Greek, Cyrillic, CJK, digits
 * and punctuation) or at the start; a direction mark (U+200E, U+200F) in a name with no
 * right-to-left letter; the Mongolian vowel separator after anything but Mongolian; the braille
 * blank, which fonts draw as a space. Scripts that need a joiner or a mark keep theirs.
 */
const showsNothing = (name: string) =>
  INVISIBLE_IN_NAME.test(name) ||
  NON_JOINING.test(name) ||
  (/[\u200e\u200f]/u.test(name) && !RIGHT_TO_LEFT.test(name)) ||
  /(?:^|[^\p{Script=Mongolian}])\u180e/u.test(name) ||
  name.includes('\u2800');

/**
 * The payee's name: `plainText`, with every run of white space (a no-break or ideographic space,
 * two spaces, which a page shows as one) as one U+0020, and nothing invisible in it, so that two
 * names the user cannot tell apart are the same name: the user approves the payee they are shown.
 */
const creditorName = plainText(70)
  .transform((name) => name.replace(/\p{White_Space}+/gu, ' '))
  .refine((name) => !showsNothing(name), 'must not contain characters that show nothing, such as a soft hyphen or a Hangul filler');

/**
 * A payment: a positive decimal amount with at most the currency's minor-unit digits, normalized
 * to exactly those digits ("12.5" EUR is "12.50"), so the same amount always reads the same.
 */
export const paymentSchema = z
  .object({
    amount: z.string().max(32, 'must be a decimal amount such as 123.50'),
    currency,
    creditorName,
    description: plainText(140).nullish(),
  })
  .transform((payment, ctx) => {
    const amount = normalizeAmount(payment.amount, payment.currency);
    if (typeof amount !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: amount.problem });
      return z.NEVER;
    }
    return { ...payment, amount, description: payment.description ?? null };
  });

/** The amount with exactly the currency's minor-unit digits, or what is wrong with it. */
function normalizeAmount(text: string, code: string): string | { problem: string } {
  const match = /^(0|[1-9]\d*)(?:\.(\d+))?$/.exec(text);
  if (!match || match[1]!.length > MAX_INTEGER_DIGITS) return { problem: `must be a decimal amount such as 123.50, with at most ${MAX_INTEGER_DIGITS} digits before the point` };
  const digits = minorDigits(code)!;
  const fraction = match[2] ?? '';
  if (fraction.length > digits) return { problem: `must have at most ${digits} digits after the point for ${code}` };
  if (/^[0.]+$/.test(text)) return { problem: 'must be greater than 0' };
  return digits === 0 ? match[1]! : `${match[1]}.${fraction.padEnd(digits, '0')}`;
}

/** The card networks a stored payment method may name. */
export const CARD_BRANDS = ['visa', 'mastercard', 'amex', 'discover', 'jcb', 'diners', 'unionpay', 'maestro', 'cartes_bancaires'] as const;

/** A masked card: brand, last four digits and expiry; never a card number. */
export const cardSchema = z.object({
  brand: z.enum(CARD_BRANDS, { error: `must be one of ${CARD_BRANDS.join(', ')}` }),
  last4: z.string().regex(/^\d{4}$/, 'must be the last four digits of the card'),
  expMonth: z.number().int().min(1, 'must be a month from 1 to 12').max(12, 'must be a month from 1 to 12'),
  expYear: z.number().int().min(2000, 'must be a year from 2000 to 2100').max(2100, 'must be a year from 2000 to 2100'),
});

/** Never empty: an empty id would name no method, and `paymentMethodDetail` would read the change as an addition. */
const paymentMethodId = z.string().min(1, 'must be the id of one of the user’s payment methods').max(64, 'must be the id of one of the user’s payment methods');

/** `requestApproval`'s input: the action, exactly the parts that action has, and an optional expiry. */
export const requestApprovalSchema = z
  .object({
    action: z.enum(APPROVAL_ACTIONS),
    payment: paymentSchema.nullish(),
    paymentMethod: cardSchema.nullish(),
    paymentMethodId: paymentMethodId.nullish(),
    expiresInSeconds: z
      .number()
      .int('must be a whole number of seconds')
      .min(APPROVAL_TTL.min, `must be from ${APPROVAL_TTL.min} to ${APPROVAL_TTL.max} seconds`)
      .max(APPROVAL_TTL.max, `must be from ${APPROVAL_TTL.min} to ${APPROVAL_TTL.max} seconds`)
      .nullish(),
  })
  .superRefine((input, ctx) => {
    const parts = { PAY: ['payment'], ADD_PAYMENT_METHOD: ['paymentMethod'], CHANGE_PAYMENT_METHOD: ['paymentMethod', 'paymentMethodId'] }[input.action];
    for (const part of ['payment', 'paymentMethod', 'paymentMethodId'] as const) {
      const given = input[part] !== null && input[part] !== undefined;
      if (parts.includes(part) && !given) ctx.addIssue({ code: 'custom', path: [part], message: `is required for ${input.action}` });
      if (!parts.includes(part) && given) ctx.addIssue({ code: 'custom', path: [part], message: `is not part of ${input.action}` });
    }
  })
  .transform((input) => ({ detail: detailOf(input), expiresInSeconds: input.expiresInSeconds ?? APPROVAL_TTL.default }));

/** `changePaymentMethod`'s input: the method changed and the card it becomes. */
export const changePaymentMethodSchema = z.object({ id: paymentMethodId, paymentMethod: cardSchema });

/** The entry a validated request asks approval for. */
function detailOf(input: {
  action: (typeof APPROVAL_ACTIONS)[number];
  payment?: z.output<typeof paymentSchema> | null;
  paymentMethod?: z.output<typeof cardSchema> | null;
  paymentMethodId?: string | null;
}): AuthorizationDetail {
  if (input.action === 'PAY') return paymentDetail(input.payment!);
  return paymentMethodDetail(input.paymentMethod!, input.action === 'CHANGE_PAYMENT_METHOD' ? input.paymentMethodId! : undefined);
}
