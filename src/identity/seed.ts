import { hash } from '@node-rs/argon2';
import {
  Faker,
  base,
  de,
  en,
  en_GB,
  en_US,
  es,
  fr,
  generateMersenne53Randomizer,
  it,
  ja,
  nl,
  pt_BR,
  sv,
  type LocaleDefinition,
  type Randomizer,
} from '@faker-js/faker';
import { sql } from 'kysely';
import { ulid } from 'ulidx';
import type { Db } from '../db/connect.js';
import type { AddressJson, LineItemJson, OrdersTable, PreferencesJson } from '../db/database.js';
import { insertSeededConsents } from '../audiences/consent.seed.js';

/** The password of every seeded customer, so any of them can sign in on a demo or benchmark database. */
export const DEMO_PASSWORD = 'hub-demo-password';

/**
 * The instant seeded data is "now": every timestamp and id is derived from it, never from the
 * clock, so the same seed gives the same rows on any day.
 */
export const SEED_TIME_BASE = new Date('2026-01-01T00:00:00.000Z');

export interface SeedOptions {
  /** How many customers to insert; a non-negative integer. */
  readonly users: number;
  /** With the same `users`, the same seed gives the same rows, ids included (not the hash's salt). */
  readonly seed: number;
  /** Customers per transaction; 1,000 by default. */
  readonly batchSize?: number;
  /** Called after each committed batch with the running totals. */
  readonly onProgress?: (done: SeedCounts) => void;
  /** The Argon2id hash of `DEMO_PASSWORD` to store; computed once per call when absent. */
  readonly passwordHash?: string;
}

export interface SeedCounts {
  readonly users: number;
  readonly orders: number;
  readonly paymentMethods: number;
}

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

interface UserRow {
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

interface OrderRow {
  id: string;
  user_id: string;
  placed_at: Date;
  total_minor: number;
  currency: string;
  status: OrdersTable['status'];
  line_items: LineItemJson[];
}

interface PaymentMethodRow {
  id: string;
  user_id: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  created_at: Date;
}

/**
 * Inserts `users` synthetic customers with their orders and payment methods.
 *
 * Deterministic: rows and ids come from one PRNG seeded with `seed` and from `SEED_TIME_BASE`, so
 * the same `seed` and `users` give the same rows. Emails are unique per seed and index
 * (`…@seed<seed>.example.com`): different seeds can share a database, while loading the same seed
 * twice fails on the primary key. Each batch is one transaction, so an interrupted run leaves only
 * whole customers. Up to `WRITERS` batches are written at once while the next one is generated.
 */
export async function seedUsers(db: Db, options: SeedOptions): Promise<SeedCounts> {
  const { users, seed, batchSize = 1_000, onProgress } = options;
  if (!Number.isSafeInteger(users) || users < 0) throw new TypeError(`users must be a non-negative integer, got ${users}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TypeError(`batchSize must be a positive integer, got ${batchSize}`);
  const passwordHash = options.passwordHash ?? (await hashDemoPassword());
  const source = createCustomerSource(seed, users);
  const writers = db.isTransaction ? 1 : WRITERS;
  const writing = new Set<Promise<unknown>>();
  let done: SeedCounts = { users: 0, orders: 0, paymentMethods: 0 };
  try {
    for (let start = 0; start < users; start += batchSize) {
      const batch = Array.from({ length: Math.min(batchSize, users - start) }, (_, i) => source.next(start + i));
      while (writing.size >= writers) await Promise.race(writing);
      const write = insertCustomers(db, batch, passwordHash).then((added) => {
        done = addCounts(done, added);
        onProgress?.(done);
      });
      const settle = () => writing.delete(write);
      write.then(settle, settle);
      writing.add(write);
    }
    await Promise.all(writing);
  } catch (error) {
    await Promise.allSettled(writing);
    throw error;
  }
  return done;
}

/**
 * Batches written at once on a pool: one backend spends much of a batch waiting on index pages
 * and foreign-key checks, so a second keeps the server busy. PGlite runs them one after another.
 */
const WRITERS = 2;

/** The Argon2id hash of `DEMO_PASSWORD`; one per run, shared by every seeded customer. */
export function hashDemoPassword(): Promise<string> {
  return hash(DEMO_PASSWORD);
}

function addCounts(a: SeedCounts, b: SeedCounts): SeedCounts {
  return { users: a.users + b.users, orders: a.orders + b.orders, paymentMethods: a.paymentMethods + b.paymentMethods };
}

/** Writes customers in one transaction (or in `db` when it already is one). */
export async function insertCustomers(db: Db, customers: readonly SeededCustomer[], passwordHash: string): Promise<SeedCounts> {
  const users = customers.map((c) => c.user);
  const orders = customers.flatMap((c) => c.orders);
  const cards = customers.flatMap((c) => c.paymentMethods);
  const write = async (tx: Db) => {
    await insertUserRows(tx, users, passwordHash);
    await insertOrderRows(tx, orders);
    await insertPaymentMethodRows(tx, cards);
    await insertSeededConsents(tx, users, SEED_TIME_BASE);
  };
  await (db.isTransaction ? write(db) : db.transaction().execute(write));
  return { users: users.length, orders: orders.length, paymentMethods: cards.length };
}

/**
 * One statement per table whatever the batch size: the rows travel as a single JSON parameter and
 * `jsonb_populate_recordset` maps their keys onto the table's columns. That stays far from the
 * 65,535-parameter limit and costs less than multi-row VALUES or `unnest` arrays on both ends.
 */
function rowsOf(table: 'users' | 'orders' | 'payment_methods', rows: readonly object[]) {
  return sql`jsonb_populate_recordset(null::${sql.table(table)}, ${JSON.stringify(rows)}::jsonb)`;
}

async function insertUserRows(db: Db, rows: readonly UserRow[], passwordHash: string): Promise<void> {
  if (rows.length === 0) return;
  await sql`insert into users (id, email, email_verified, phone, given_name, family_name, birthdate, locale, country,
      address, preferences, loyalty_tier, loyalty_points, created_at, updated_at, last_login_at, password_hash)
    select id, email, email_verified, phone, given_name, family_name, birthdate, locale, country,
      address, preferences, loyalty_tier, loyalty_points, created_at, updated_at, last_login_at, ${passwordHash}::text
    from ${rowsOf('users', rows)}`.execute(db);
}

async function insertOrderRows(db: Db, rows: readonly OrderRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
    select id, user_id, placed_at, total_minor, currency, status, line_items from ${rowsOf('orders', rows)}`.execute(db);
}

async function insertPaymentMethodRows(db: Db, rows: readonly PaymentMethodRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`insert into payment_methods (id, user_id, brand, last4, exp_month, exp_year, created_at)
    select id, user_id, brand, last4, exp_month, exp_year, created_at from ${rowsOf('payment_methods', rows)}`.execute(db);
}

// ---------------------------------------------------------------------------------------------
// Generation: one PRNG drives faker, the sampling below and the random part of every ULID.

/** Picks from a fixed table of weights in O(log n); weights need not sum to 1. */
class Weighted<T> {
  private readonly cumulative: number[] = [];
  private readonly values: T[] = [];
  constructor(table: ReadonlyArray<readonly [T, number]>) {
    let sum = 0;
    for (const [value, weight] of table) {
      this.values.push(value);
      this.cumulative.push((sum += weight));
    }
    this.cumulative = this.cumulative.map((c) => c / sum);
  }
  pick(u: number): T {
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (u < this.cumulative[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return this.values[lo]!;
  }
}

class Random {
  constructor(private readonly randomizer: Randomizer) {}
  readonly next = (): number => this.randomizer.next();
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  weighted<T>(table: Weighted<T>): T {
    return table.pick(this.next());
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(this.next() * 10);
    return s;
  }
  /** Up to `max` distinct items, in the order of `items`. */
  subset<T>(items: readonly T[], max: number): T[] {
    const count = this.int(0, max);
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(Math.floor(this.next() * items.length));
    return [...chosen].sort((a, b) => a - b).map((i) => items[i]!);
  }
  /** A ULID at `time`, whose random part comes from this generator. */
  ulid(time: Date): string {
    return ulid(time.getTime(), this.next);
  }
}

/** The countries customers are drawn from (ISO 3166-1 alpha-2). */
export type CountryCode = keyof typeof COUNTRIES;

interface CountryProfile {
  readonly weight: number;
  readonly locale: string;
  readonly currency: string;
  /** Minor units per euro cent, for converting catalog prices. */
  readonly rate: number;
  readonly faker: LocaleDefinition[];
  /** How addresses name their state or prefecture, if they do. */
  readonly region: 'code' | 'name' | null;
  readonly phone: (r: Random) => string;
  readonly shoeSizes: readonly string[];
}

const EU_SHOES = ['36', '37', '38', '39', '40', '41', '42', '43', '44', '45', '46'];
const BR_MOBILE_AREAS = ['11', '21', '31', '41', '47', '51', '61', '71', '81', '85', '91'];

const COUNTRIES = {
  US: {
    weight: 24, locale: 'en-US', currency: 'USD', rate: 1.08, faker: [en_US, en], region: 'code',
    phone: (r) => `+1${r.int(2, 9)}${r.digits(2)}${r.int(2, 9)}${r.digits(6)}`,
    shoeSizes: ['6', '7', '7.5', '8', '8.5', '9', '9.5', '10', '10.5', '11', '12'],
  },
  DE: {
    weight: 16, locale: 'de-DE', currency: 'EUR', rate: 1, faker: [de], region: null,
    phone: (r) => `+491${r.pick(['51', '52', '57', '60', '62', '70', '71', '72', '76', '79'])}${r.digits(8)}`,
    shoeSizes: EU_SHOES,
  },
  GB: {
    weight: 13, locale: 'en-GB', currency: 'GBP', rate: 0.85, faker: [en_GB, en], region: null,
    phone: (r) => `+447${r.int(1, 9)}${r.digits(8)}`,
    shoeSizes: ['4', '5', '6', '7', '8', '9', '10', '11'],
  },
  FR: {
    weight: 11, locale: 'fr-FR', currency: 'EUR', rate: 1, faker: [fr], region: null,
    phone: (r) => `+33${r.int(6, 7)}${r.digits(8)}`,
    shoeSizes: EU_SHOES,
  },
  ES: {
    weight: 7, locale: 'es-ES', currency: 'EUR', rate: 1, faker: [es], region: null,
    phone: (r) => `+346${r.digits(8)}`,
    shoeSizes: EU_SHOES,
  },
  IT: {
    weight: 7, locale: 'it-IT', currency: 'EUR', rate: 1, faker: [it], region: null,
    phone: (r) => `+393${r.digits(9)}`,
    shoeSizes: EU_SHOES,
  },
  NL: {
    weight: 5, locale: 'nl-NL', currency: 'EUR', rate: 1, faker: [nl], region: null,
    phone: (r) => `+316${r.digits(8)}`,
    shoeSizes: EU_SHOES,
  },
  BR: {
    weight: 7, locale: 'pt-BR', currency: 'BRL', rate: 5.9, faker: [pt_BR], region: 'code',
    phone: (r) => `+55${r.pick(BR_MOBILE_AREAS)}9${r.digits(8)}`,
    shoeSizes: ['34', '35', '36', '37', '38', '39', '40', '41', '42', '43'],
  },
  JP: {
    weight: 5, locale: 'ja-JP', currency: 'JPY', rate: 1.6, faker: [ja], region: 'name',
    phone: (r) => `+81${r.int(7, 9)}0${r.digits(8)}`,
    shoeSizes: ['23', '23.5', '24', '24.5', '25', '25.5', '26', '26.5', '27', '28'],
  },
  SE: {
    weight: 5, locale: 'sv-SE', currency: 'SEK', rate: 11.5, faker: [sv], region: null,
    phone: (r) => `+467${r.pick(['0', '2', '3', '6', '9'])}${r.digits(7)}`,
    shoeSizes: EU_SHOES,
  },
} satisfies Record<string, CountryProfile>;

/** Prices as shops show them: …99 in cent currencies, whole hundreds of yen, whole tens of kronor. */
function localPrice(eurCents: number, country: CountryProfile): number {
  const minor = eurCents * country.rate;
  if (country.currency === 'JPY') return Math.max(100, Math.round(minor / 100) * 100);
  if (country.currency === 'SEK') return Math.max(1_000, Math.round(minor / 1_000) * 1_000);
  return Math.max(99, Math.round(minor / 100) * 100 - 1);
}

/** The retail interests a customer can state; the catalog's categories follow them. */
export const INTERESTS = [
  'running', 'yoga', 'hiking', 'cycling', 'fashion', 'sneakers', 'outdoor', 'home-decor', 'cooking', 'coffee',
  'beauty', 'skincare', 'fragrance', 'electronics', 'gaming', 'books', 'kids', 'pets', 'gardening', 'travel',
] as const;

const CATALOG: ReadonlyArray<readonly [sku: string, name: string, eurCents: number]> = [
  ['RUN-1001', 'Trail running shoes', 12_999], ['RUN-1002', 'Running socks, 3 pairs', 1_499], ['YOG-1101', 'Yoga mat', 3_999],
  ['YOG-1102', 'Yoga leggings', 4_999], ['HIK-1201', 'Hiking boots', 15_999], ['HIK-1202', 'Merino base layer', 6_999],
  ['CYC-1301', 'Bike light set', 2_999], ['CYC-1302', 'Cycling gloves', 2_499], ['FSH-1401', 'Denim jacket', 8_999],
  ['FSH-1402', 'Cotton T-shirt', 1_999], ['FSH-1403', 'Linen shirt', 4_499], ['FSH-1404', 'Wool scarf', 3_499],
  ['SNK-1501', 'Leather sneakers', 10_999], ['OUT-1601', 'Rain jacket', 11_999], ['OUT-1602', 'Travel backpack', 7_999],
  ['HOM-1701', 'Scented candle', 1_999], ['HOM-1702', 'Throw blanket', 4_999], ['HOM-1703', 'Ceramic vase', 2_999],
  ['COK-1801', 'Cast-iron skillet', 4_999], ['COK-1802', "Chef's knife", 7_999], ['COF-1901', 'Espresso beans, 1 kg', 2_499],
  ['COF-1902', 'Pour-over kettle', 5_999], ['BEA-2001', 'Lipstick', 2_299], ['SKN-2101', 'Vitamin C serum', 3_299],
  ['SKN-2102', 'Daily moisturiser', 2_499], ['FRG-2201', 'Eau de parfum, 50 ml', 8_999], ['ELE-2301', 'Wireless earbuds', 12_999],
  ['ELE-2302', 'USB-C charger', 2_999], ['GAM-2401', 'Game controller', 6_499], ['BOK-2501', 'Paperback novel', 1_299],
  ['BOK-2502', 'Cookbook', 2_999], ['KID-2601', 'Kids rain boots', 2_999], ['KID-2602', 'Plush toy', 1_999],
  ['PET-2701', 'Dog leash', 1_999], ['PET-2702', 'Cat bed', 3_999], ['GRD-2801', 'Garden gloves', 1_499],
  ['GRD-2802', 'Terracotta plant pot', 1_999], ['TRV-2901', 'Packing cubes', 2_999], ['TRV-2902', 'Reusable bottle', 2_499],
  ['GFT-3001', 'Gift card', 5_000],
];

const TAGS = ['vip', 'newsletter', 'early-adopter', 'gift-buyer', 'bargain-hunter', 'eco-conscious', 'app-user', 'store-visitor'];
const CHANNELS = [['email', 0.8], ['sms', 0.3], ['push', 0.45], ['post', 0.1]] as const;
const TOPS = ['XS', 'S', 'M', 'L', 'XL', 'XXL'];
const ROMAJI_GIVEN = ['haruto', 'yuto', 'sota', 'ren', 'kaito', 'yui', 'hina', 'aoi', 'sakura', 'riko'];
const ROMAJI_FAMILY = ['sato', 'suzuki', 'takahashi', 'tanaka', 'watanabe', 'ito', 'yamamoto', 'nakamura', 'kobayashi', 'kato'];

const countryTable = new Weighted(Object.entries(COUNTRIES).map(([code, c]) => [code as CountryCode, c.weight] as const));
// 0 to 20 orders, 6.2 on average; about a quarter of customers have 10 or more.
const orderCountTable = new Weighted(
  [12, 8, 8, 8, 8, 7, 7, 7, 6, 5, 4, 4, 3, 3, 2.5, 2, 1.5, 1.2, 1, 0.8, 0.6].map((w, n) => [n, w] as const),
);
const tierTable = new Weighted([['bronze', 58], ['silver', 27], ['gold', 11], ['platinum', 4]] as const);
const TIER_POINTS = { bronze: [0, 999], silver: [1_000, 4_999], gold: [5_000, 14_999], platinum: [15_000, 60_000] } as const;
const itemCountTable = new Weighted([[1, 45], [2, 30], [3, 15], [4, 10]] as const);
const quantityTable = new Weighted([[1, 80], [2, 15], [3, 5]] as const);
const settledStatusTable = new Weighted([['delivered', 88], ['cancelled', 7], ['refunded', 5]] as const);
const cardCountTable = new Weighted([[0, 30], [1, 50], [2, 20]] as const);
const brandTable = new Weighted([['visa', 55], ['mastercard', 35], ['amex', 10]] as const);

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
  const id = `usr_${r.ulid(createdAt)}`;
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
