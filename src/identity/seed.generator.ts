import { Faker, base, en, generateMersenne53Randomizer } from '@faker-js/faker';
import type { Selectable } from 'kysely';
import type { AddressJson, LineItemJson, OrdersTable, PaymentMethodsTable, PreferencesJson } from '../db/database.js';
import {
  CATALOG, CHANNELS, COUNTRIES, INTERESTS, ROMAJI_FAMILY, ROMAJI_GIVEN, TAGS, TIER_POINTS, TOPS, brandTable, cardCountTable, countryTable,
  itemCountTable, localPrice, orderCountTable, quantityTable, settledStatusTable, tierTable, type CountryCode, type CountryProfile,
} from './seed.catalogue.js';
import { Random } from './seed.random.js';

/**
 * The instant seeded data is "now": every timestamp and id is derived from it, never from the
 * clock, so the same seed gives the same rows on any day.
 */
export const SEED_TIME_BASE = new Date('2026-01-01T00:00:00.000Z');

/** Pins parts of one generated customer; for a well-known demo account. */
export interface CustomerOverrides {
  readonly email?: string;
  readonly givenName?: string;
  readonly familyName?: string;
  readonly country?: CountryCode;
  readonly orderCount?: number;
  /** Every optional field filled: verified email, phone, second address line, a login, a card. */
  readonly complete?: boolean;
}

export interface SeededCustomer {
  readonly user: UserRow;
  readonly orders: readonly OrderRow[];
  readonly paymentMethods: readonly PaymentMethodRow[];
}

export interface UserRow {
  id: string;
  email: string;
  email_verified: boolean;
  phone: string | null;
  given_name: string;
  family_name: string;
  birthdate: string;
  locale: string;
  country: CountryCode;
  address: AddressJson;
  preferences: PreferencesJson;
  loyalty_tier: string;
  loyalty_points: number;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
}

/** Rows as the tables hold them, written by the seed's COPY or inserts. */
export type OrderRow = Selectable<OrdersTable>;
export type PaymentMethodRow = Selectable<PaymentMethodsTable>;

const DAY = 86_400_000;
const YEAR = 365.25 * DAY;

/**
 * Generates customers one at a time from one seeded PRNG: the same `seed` and `total` give the
 * same sequence. Customer `index` of `total` signed up in the index-th slice of the last three
 * years (more of them recently), so ids and sign-up times ascend with the index as in a real table,
 * and inserts append to the indexes instead of scattering over them.
 */
export function createCustomerSource(seed: number, total: number) {
  const randomizer = generateMersenne53Randomizer(seed);
  const random = new Random(randomizer);
  const fakers = new Map<CountryCode, Faker>();
  for (const [code, profile] of Object.entries(COUNTRIES) as [CountryCode, CountryProfile][]) {
    fakers.set(code, new Faker({ locale: [...profile.faker, en, base], randomizer }));
  }
  const asOf = SEED_TIME_BASE.getTime();
  return {
    next(index: number, overrides: CustomerOverrides = {}): SeededCustomer {
      const code = overrides.country ?? random.weighted(countryTable);
      const signUp = { asOf, share: Math.min(1, (index + random.next()) / total) };
      return generateCustomer(random, fakers.get(code)!, code, `${index}@seed${seed}.example.com`, signUp, overrides);
    },
  };
}

interface SignUp {
  readonly asOf: number;
  /** Where in the sign-up period the customer joined: 0 is three years before `asOf`, 1 is `asOf`. */
  readonly share: number;
}

function generateCustomer(
  r: Random,
  faker: Faker,
  code: CountryCode,
  emailSuffix: string,
  signUp: SignUp,
  o: CustomerOverrides,
): SeededCustomer {
  const { asOf } = signUp;
  const country: CountryProfile = COUNTRIES[code];
  const sex = r.chance(0.5) ? 'female' : 'male';
  const givenName = o.givenName ?? faker.person.firstName(sex);
  const familyName = o.familyName ?? faker.person.lastName(sex);
  const createdAt = new Date(Math.floor(asOf - 3 * YEAR * (1 - Math.sqrt(signUp.share))));
  const lastLoginAt = o.complete || r.chance(0.88) ? between(createdAt.getTime(), asOf, r.next() ** 0.3) : null;
  const tier = r.weighted(tierTable);
  const id = `usr_${r.userIdPart()}`;
  const user: UserRow = {
    id,
    email: o.email ?? `${emailLocalPart(r, givenName, familyName)}.${emailSuffix}`,
    email_verified: o.complete || r.chance(0.92),
    phone: o.complete || r.chance(0.85) ? country.phone(r) : null,
    given_name: givenName,
    family_name: familyName,
    birthdate: new Date(asOf - (18 + 72 * r.next() ** 1.6) * YEAR - r.int(0, 364) * DAY).toISOString().slice(0, 10),
    locale: country.locale,
    country: code,
    address: generateAddress(r, faker, code, country, o.complete === true),
    preferences: generatePreferences(r, country),
    loyalty_tier: tier,
    loyalty_points: r.int(TIER_POINTS[tier][0], TIER_POINTS[tier][1]),
    created_at: createdAt,
    updated_at: between(createdAt.getTime(), lastLoginAt?.getTime() ?? asOf, r.next()),
    last_login_at: lastLoginAt,
  };
  const orderCount = o.orderCount ?? r.weighted(orderCountTable);
  const orders = Array.from({ length: orderCount }, () => between(createdAt.getTime(), asOf, r.next()))
    .sort((a, b) => a.getTime() - b.getTime())
    .map((placedAt) => generateOrder(r, id, placedAt, country, asOf));
  const cardCount = Math.max(o.complete ? 1 : 0, r.weighted(cardCountTable));
  const paymentMethods = Array.from({ length: cardCount }, () => generatePaymentMethod(r, id, createdAt.getTime(), asOf));
  return { user, orders, paymentMethods };
}

function between(from: number, to: number, u: number): Date {
  return new Date(Math.floor(from + (to - from) * u));
}

/** Lowercase ASCII from the name (diacritics dropped); romaji stand in for names with no Latin letters. */
function emailLocalPart(r: Random, givenName: string, familyName: string): string {
  const given = asciiSlug(givenName);
  const family = asciiSlug(familyName);
  if (given && family) return `${given}.${family}`;
  return `${r.pick(ROMAJI_GIVEN)}.${r.pick(ROMAJI_FAMILY)}`;
}

function asciiSlug(name: string): string {
  return name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(/[øœæ]/g, (c) => ({ ø: 'o', œ: 'oe', æ: 'ae' })[c]!)
    .replace(/[^a-z]/g, '');
}

function generateAddress(r: Random, faker: Faker, code: CountryCode, country: CountryProfile, complete: boolean): AddressJson {
  return {
    line1: faker.location.streetAddress(),
    line2: complete || r.chance(0.2) ? faker.location.secondaryAddress() : null,
    city: faker.location.city(),
    region: country.region ? faker.location.state({ abbreviated: country.region === 'code' }) : null,
    postalCode: faker.location.zipCode(),
    country: code,
  };
}

function generatePreferences(r: Random, country: CountryProfile): PreferencesJson {
  const preferences: PreferencesJson = {
    channels: CHANNELS.filter(([, p]) => r.chance(p)).map(([channel]) => channel),
    interests: r.subset(INTERESTS, 5),
    tags: r.subset(TAGS, 3),
  };
  if (r.chance(0.85)) preferences.sizes = { shoe: r.pick(country.shoeSizes), top: r.pick(TOPS) };
  return preferences;
}

function generateOrder(r: Random, userId: string, placedAt: Date, country: CountryProfile, asOf: number): OrderRow {
  const lineItems = Array.from({ length: r.weighted(itemCountTable) }, (): LineItemJson => {
    const [sku, name, eurCents] = r.pick(CATALOG);
    return { sku, name, quantity: r.weighted(quantityTable), unitPriceMinor: localPrice(eurCents, country) };
  });
  return {
    id: `ord_${r.ulid(placedAt)}`,
    user_id: userId,
    placed_at: placedAt,
    total_minor: lineItems.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0),
    currency: country.currency,
    status: orderStatus(r, (asOf - placedAt.getTime()) / DAY),
    line_items: lineItems,
  };
}

/** Recent orders are still on their way; older ones have settled. */
function orderStatus(r: Random, ageInDays: number): OrderRow['status'] {
  if (ageInDays < 2) return r.chance(0.5) ? 'pending' : 'paid';
  if (ageInDays < 7) return 'shipped';
  return r.weighted(settledStatusTable);
}

function generatePaymentMethod(r: Random, userId: string, userCreatedAt: number, asOf: number): PaymentMethodRow {
  const createdAt = between(userCreatedAt, asOf, r.next());
  return {
    id: `pm_${r.ulid(createdAt)}`,
    user_id: userId,
    brand: r.weighted(brandTable),
    last4: r.digits(4),
    exp_month: r.int(1, 12),
    exp_year: createdAt.getUTCFullYear() + r.int(1, 6),
    created_at: createdAt,
  };
}
