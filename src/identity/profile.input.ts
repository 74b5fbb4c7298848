import { domainToASCII, domainToUnicode } from 'node:url';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { z } from 'zod';
import type { AddressJson, PreferencesJson } from '../db/database.js';
import { utcDate, yearsBefore } from '../shared/calendar.js';
import type { Clock } from '../shared/clock.js';
import { COUNTRY_CODES } from '../shared/countries.js';
import { plainText } from '../shared/input.js';

/**
 * The validation of every profile value a caller can set. Each schema names what is wrong in
 * words a frontend can show; `parseInput` turns the first problem into BAD_USER_INPUT naming
 * the field.
 */
const text = plainText;

/** A given or family name. */
export const personName = text(100);

/**
 * An address as stored and looked up: trimmed, its domain in ASCII (IDNA, RFC 5890: 'bücher.de'
 * as 'xn--bcher-kva.de', which is what mail is sent to) and lowercased, so the two forms of one
 * domain are one account. A domain IDNA cannot convert is kept as given, for the check to refuse,
 * and so is a letter outside ASCII in the part before the `@`.
 */
export function normalizeEmail(value: string): string {
  const trimmed = value.trim();
  const at = trimmed.lastIndexOf('@');
  const domain = trimmed.slice(at + 1);
  if (at < 0 || /^[\x20-\x7e]*$/.test(domain)) return lowerAscii(trimmed);
  return lowerAscii(`${trimmed.slice(0, at)}@${domainToASCII(domain) || domain}`);
}

/** A–Z lowercased, nothing else: Unicode lowercases the Kelvin sign K to k, making another address of one the check must refuse. */
const lowerAscii = (value: string) => value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

/**
 * Zod's practical address, but for the top-level domain, which may also be an IDN one in its
 * ASCII form (.рф is xn--p1ai, .中国 xn--fiqs8s): zod's accepts letters only; and with the
 * domain's labels as DNS has them (RFC 1035 §2.3.1, RFC 5321 §4.1.2): at most 63 characters, a
 * letter or digit at each end.
 */
const EMAIL = /^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{0,58}[A-Za-z0-9])$/;

/**
 * The domain is one IDNA gives (RFC 5891 §5.4): an `xn--` label typed in ASCII must decode to a
 * label IDNA keeps. Punycode can spell what reads as another domain but is none (`xn--bucher-xyd`
 * is u and a combining diaeresis, shown as bücher): no registry issues it, and it would be a
 * second account beside the owner of the address it looks like.
 */
const hasIdnaDomain = (address: string) => {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  return domainToASCII(domain) === domain && domain.split('.').every((label) => !label.startsWith('xn--') || isIdnaLabel(label));
};

/**
 * An `xn--` label decodes to a Unicode label that IDNA converts back to it. Checked label by label,
 * as the runtime's URL parser may pass an all-ASCII domain through unchecked (Node 24's does, where
 * Node 20's and 22's refuse it); a label it cannot decode comes back empty or unchanged.
 */
const isIdnaLabel = (label: string) => {
  const unicode = domainToUnicode(label);
  return !unicode.startsWith('xn--') && domainToASCII(unicode) === label;
};

/** RFC 5321 §4.5.3.1.1: the part before the `@` has at most 64 octets, which servers may hold to. */
const LOCAL_PART_MAX = 64;

export const email = z
  .string()
  .trim()
  .max(254, 'must have at most 254 characters')
  .transform(normalizeEmail)
  .pipe(
    z
      .string()
      .max(254, 'must have at most 254 characters')
      .regex(EMAIL, 'must be an email address')
      .refine((address) => address.lastIndexOf('@') <= LOCAL_PART_MAX, `must have at most ${LOCAL_PART_MAX} characters before the @`)
      .refine(hasIdnaDomain, 'must be an email address'),
  );

/**
 * An ISO 3166-1 alpha-2 code in either case, stored in capitals. Two ASCII letters first: Unicode
 * uppercases letters outside ASCII to codes (ß to SS, the ligature ﬆ to ST, a dotless ı with t to IT).
 */
export const country = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code')
  .transform((value) => value.toUpperCase())
  .refine((value) => COUNTRY_CODES.has(value), 'must be an ISO 3166-1 alpha-2 country code');

export const locale = z
  .string()
  .max(35, 'must be a BCP 47 language tag')
  .transform((value, ctx) => {
    try {
      const [canonical] = Intl.getCanonicalLocales(value);
      if (canonical) return canonical;
    } catch {
      // RangeError: not a well-formed tag; reported below.
    }
    ctx.addIssue({ code: 'custom', message: 'must be a BCP 47 language tag such as en-GB' });
    return z.NEVER;
  });

/** Longer than any number with its country code written out with spaces, dashes and brackets. */
const PHONE_MAX = 64;

/**
 * A phone number as people type it, spaces and punctuation allowed (`+1 (415) 555-0100`, a
 * full-width form as an East Asian keyboard gives), stored in E.164 (`+14155550100`), so that two
 * spellings of one number are one value. It must start with + and the country code: a national
 * number is not read against the profile's country, which is not the country of every phone a
 * person holds, and which another scope (`profile`) governs than the phone's (`contact`). What is
 * refused is what cannot be a number: an unknown country code, a length that country's plan
 * does not have (libphonenumber's possible lengths; not its ranges in use, which lag behind new
 * ranges and leave out those set aside, such as Ofcom's +44 7700 900xxx), and an extension,
 * which E.164 cannot hold.
 */
export const phone = z
  .string()
  .max(PHONE_MAX, `must have at most ${PHONE_MAX} characters`)
  .transform((typed, ctx) => {
    const value = typed.normalize('NFKC').trim();
    if (!value.startsWith('+')) {
      ctx.addIssue({ code: 'custom', message: 'must start with + and the country code, such as +44 7700 900123' });
      return z.NEVER;
    }
    const number = parsePhoneNumberFromString(value, { extract: false });
    if (number?.ext) ctx.addIssue({ code: 'custom', message: 'must be a number without an extension, such as +44 7700 900123' });
    else if (!number?.isPossible()) ctx.addIssue({ code: 'custom', message: 'must be a phone number with its country code, such as +44 7700 900123' });
    else return number.number;
    return z.NEVER;
  });

/** Past the greatest age on record (122 years): an earlier birthdate is a typo or a placeholder. */
const MAX_AGE_YEARS = 130;

/**
 * A 'YYYY-MM-DD' date from `MAX_AGE_YEARS` years before today to today, today being the UTC date
 * by the hub's clock when the value is checked.
 */
const birthdate = (clock: Clock) =>
  z.string().superRefine((value, ctx) => {
    const now = clock.now();
    const today = utcDate(now);
    const earliest = yearsBefore(now, MAX_AGE_YEARS);
    if (value < earliest || value > today) ctx.addIssue({ code: 'custom', message: `must be a date between ${earliest} and today` });
  });

const address = z.object({
  line1: text(200),
  line2: text(200).nullish(),
  city: text(100),
  region: text(100).nullish(),
  // Some sixty countries have none (UPU): left out, null or empty is none.
  postalCode: z
    .string()
    .trim()
    .refine((code) => code === '' || /^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$/.test(code), 'must be a postal code of letters, digits, spaces and dashes')
    .nullish()
    .transform((code) => code || null),
  country,
});

export const CHANNELS = ['email', 'sms', 'push', 'post'] as const;

/** An interest, a tag or a size's kind, stored trimmed and lowercased. */
export const tag = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9 _-]{0,49}$/, 'must be 1 to 50 letters, digits, spaces, _ or -');

/** Each list may be left out (kept as stored) or null (cleared), as the fields of a profile update. */
const preferences = z.object({
  channels: z.array(z.enum(CHANNELS, { error: `must be one of ${CHANNELS.join(', ')}` })).max(CHANNELS.length).nullish(),
  interests: z.array(tag).max(30, 'must have at most 30 entries').nullish(),
  // Stored as one value per kind: a kind given twice would keep only its last size.
  sizes: z
    .array(z.object({ kind: tag, value: text(20) }))
    .max(10, 'must have at most 10 entries')
    .superRefine((sizes, ctx) => {
      const seen = new Set<string>();
      for (const [i, { kind }] of sizes.entries()) {
        if (seen.has(kind)) ctx.addIssue({ code: 'custom', path: [i, 'kind'], message: `must not repeat a kind given before (${kind})` });
        seen.add(kind);
      }
    })
    .nullish(),
  tags: z.array(tag).max(30, 'must have at most 30 entries').nullish(),
});

/** The changes of a profile update; birthdates are judged by `clock`. */
export const profileChangesSchema = (clock: Clock) =>
  z.object({
    givenName: personName.nullish(),
    familyName: personName.nullish(),
    phone: phone.nullish(),
    birthdate: birthdate(clock).nullish(),
    locale: locale.nullish(),
    country: country.nullish(),
    address: address.nullish(),
    preferences: preferences.nullish(),
  });

export type ParsedProfileInput = z.output<ReturnType<typeof profileChangesSchema>>;

export { parseInput } from '../shared/input.js';

/** Merges stated preferences: a list given replaces that list, one given as null is cleared, one left out is kept. */
export function mergePreferences(current: PreferencesJson, changes: NonNullable<ParsedProfileInput['preferences']>): PreferencesJson {
  const merged: PreferencesJson = { ...current };
  for (const key of ['channels', 'interests', 'tags'] as const) {
    const values = changes[key];
    if (values === null) delete merged[key];
    else if (values) merged[key] = [...new Set(values)];
  }
  if (changes.sizes === null) delete merged.sizes;
  else if (changes.sizes) merged.sizes = Object.fromEntries(changes.sizes.map((s) => [s.kind, s.value]));
  return merged;
}

export function toAddressJson(value: z.output<typeof address>): AddressJson {
  return { line1: value.line1, line2: value.line2 ?? null, city: value.city, region: value.region ?? null, postalCode: value.postalCode ?? null, country: value.country };
}
