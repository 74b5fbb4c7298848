import { de, en, en_GB, en_US, es, fr, it, ja, nl, pt_BR, sv, type LocaleDefinition } from '@faker-js/faker';
import type { LoyaltyTier } from './loyalty.js';
import { Weighted, type Random } from './seed.random.js';

// What synthetic customers are made of: countries, the retail catalogue, and the shares of every
// choice (tiers, order counts, cards), as fixed tables.

/** The countries customers are drawn from (ISO 3166-1 alpha-2). */
export type CountryCode = keyof typeof COUNTRIES;

export interface CountryProfile {
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

export const COUNTRIES = {
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
export function localPrice(eurCents: number, country: CountryProfile): number {
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

export const CATALOG: ReadonlyArray<readonly [sku: string, name: string, eurCents: number]> = [
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

export const TAGS = ['vip', 'newsletter', 'early-adopter', 'gift-buyer', 'bargain-hunter', 'eco-conscious', 'app-user', 'store-visitor'];
export const CHANNELS = [['email', 0.8], ['sms', 0.3], ['push', 0.45], ['post', 0.1]] as const;
export const TOPS = ['XS', 'S', 'M', 'L', 'XL', 'XXL'];
export const ROMAJI_GIVEN = ['haruto', 'yuto', 'sota', 'ren', 'kaito', 'yui', 'hina', 'aoi', 'sakura', 'riko'];
export const ROMAJI_FAMILY = ['sato', 'suzuki', 'takahashi', 'tanaka', 'watanabe', 'ito', 'yamamoto', 'nakamura', 'kobayashi', 'kato'];

export const countryTable = new Weighted(Object.entries(COUNTRIES).map(([code, c]) => [code as CountryCode, c.weight] as const));
// 0 to 20 orders, 6.2 on average; about a quarter of customers have 10 or more.
export const orderCountTable = new Weighted(
  [12, 8, 8, 8, 8, 7, 7, 7, 6, 5, 4, 4, 3, 3, 2.5, 2, 1.5, 1.2, 1, 0.8, 0.6].map((w, n) => [n, w] as const),
);
export const tierTable = new Weighted<LoyaltyTier>([['bronze', 58], ['silver', 27], ['gold', 11], ['platinum', 4]]);
export const TIER_POINTS = { bronze: [0, 999], silver: [1_000, 4_999], gold: [5_000, 14_999], platinum: [15_000, 60_000] } as const satisfies Record<LoyaltyTier, readonly [number, number]>;
export const itemCountTable = new Weighted([[1, 45], [2, 30], [3, 15], [4, 10]] as const);
export const quantityTable = new Weighted([[1, 80], [2, 15], [3, 5]] as const);
export const settledStatusTable = new Weighted([['delivered', 88], ['cancelled', 7], ['refunded', 5]] as const);
export const cardCountTable = new Weighted([[0, 30], [1, 50], [2, 20]] as const);
export const brandTable = new Weighted([['visa', 55], ['mastercard', 35], ['amex', 10]] as const);

