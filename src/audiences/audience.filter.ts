import { z } from 'zod';
import type { ExpressionBuilder, Expression, SqlBool } from 'kysely';
import { DATA_CATEGORIES, type DataCategory, type FieldRef, type FilterRead } from '../authz/scopes.js';
import type { Database } from '../db/database.js';
import { LOYALTY_TIERS } from '../identity/loyalty.js';
import { UNSPENT_ORDER_STATUSES } from '../identity/order-status.js';
import { CHANNELS, country, locale, tag } from '../identity/profile.input.js';
import { yearsBefore } from '../shared/calendar.js';
import { BadUserInputError } from '../shared/errors.js';
import { isStorableInstant, STORABLE_INSTANT_MESSAGE } from '../shared/input.js';

const list = <T extends z.ZodType>(item: T) => z.array(item).min(1, 'must not be empty').max(50, 'must list at most 50 values');
const count = z.number().int().min(0).max(1_000_000_000);
/** Money in minor units, up to what the `SafeInt` it comes in as can hold. */
const amount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** A date both databases store alike (a saved filter holding one PGlite refuses would fail on every read and export). */
const date = z.coerce
  .date()
  .refine((d) => !Number.isNaN(d.getTime()), 'must be a date')
  .refine(isStorableInstant, STORABLE_INSTANT_MESSAGE);

/**
 * What marketers select on: every key optional, every list matching any of its values, all keys
 * together. Stored as JSON with a saved audience and parsed again on every read. A value is
 * checked and written as the profile stores it (src/identity/profile.input.ts): `sv-se` selects
 * the members whose locale is `sv-SE`, and a value no profile can hold, or a range that holds
 * nothing, is refused rather than selecting nobody.
 */
const audienceFilterSchema = z
  .object({
    countries: list(country),
    locales: list(locale),
    /** In any case, as the tier is stored in lower case. */
    loyaltyTiers: list(z.string().toLowerCase().pipe(z.enum(LOYALTY_TIERS, { error: `must be one of ${LOYALTY_TIERS.join(', ')}` }))),
    minLoyaltyPoints: count,
    /** Members who stated at least one of these interests (preferences). */
    interestsAny: list(tag),
    /** Members who prefer at least one of these channels (preferences). */
    channelsAny: list(z.enum(CHANNELS, { error: `must be one of ${CHANNELS.join(', ')}` })),
    /** The age band, in whole years today, both ends included. */
    ageMin: z.number().int().min(0).max(150),
    ageMax: z.number().int().min(0).max(150),
    lastOrderAfter: date,
    lastOrderBefore: date,
    /** Orders placed in [from, to): at least minCount of them (1 when neither minimum is set), and at least minSpendMinor in all. */
    orders: z
      .object({ from: date, to: date, minCount: count, minSpendMinor: amount })
      .partial()
      .strict(),
    signedUpAfter: date,
    signedUpBefore: date,
  })
  .partial()
  .strict()
  .superRefine((filter, ctx) => {
    const ordered = <T extends number | Date>(low: T | undefined, high: T | undefined, path: string[], message: string, strictly: boolean) => {
      if (low !== undefined && high !== undefined && (strictly ? high <= low : high < low)) ctx.addIssue({ code: 'custom', path, message });
    };
    ordered(filter.ageMin, filter.ageMax, ['ageMax'], 'must not be less than ageMin', false);
    ordered(filter.lastOrderAfter, filter.lastOrderBefore, ['lastOrderBefore'], 'must be later than lastOrderAfter', true);
    ordered(filter.signedUpAfter, filter.signedUpBefore, ['signedUpBefore'], 'must be later than signedUpAfter', true);
    ordered(filter.orders?.from, filter.orders?.to, ['orders', 'to'], 'must be later than from', true);
  });

export type AudienceFilter = z.output<typeof audienceFilterSchema>;

const field = <C extends DataCategory>(category: C, name: (typeof DATA_CATEGORIES)[C][number]): FieldRef => Object.freeze({ category, field: name });

/**
 * The User field each filter key reads, in the order its refusal is decided: selecting on a value
 * tells as much about it as reading it (a filter that keeps a member at `minLoyaltyPoints: 42000`
 * and drops them at 42001 shows the points), so a key is allowed only where reading its field
 * would be (src/authz/audience-access.ts). Each names the field its `audience_members` column
 * is copied from: age from `birthdate` (identity), tiers and points from `loyalty`, order counts,
 * spend and dates from `orders`, interests and channels from `preferences`, sign-up from
 * `createdAt`. Every key of the filter has one: a new key does not compile without it.
 */
export const FILTER_FIELDS = {
  countries: field('profile', 'country'),
  locales: field('profile', 'locale'),
  loyaltyTiers: field('loyalty', 'loyalty'),
  minLoyaltyPoints: field('loyalty', 'loyalty'),
  interestsAny: field('preferences', 'preferences'),
  channelsAny: field('preferences', 'preferences'),
  ageMin: field('identity', 'birthdate'),
  ageMax: field('identity', 'birthdate'),
  lastOrderAfter: field('orders', 'orders'),
  lastOrderBefore: field('orders', 'orders'),
  orders: field('orders', 'orders'),
  signedUpAfter: field('profile', 'createdAt'),
  signedUpBefore: field('profile', 'createdAt'),
} as const satisfies Record<keyof AudienceFilter, FieldRef>;

/**
 * The keys this parsed filter uses, each with the field it reads, in FILTER_FIELDS order (not the
 * caller's): a key counts once present, whatever its value (`orders: {}` included).
 */
export function filterReads(filter: AudienceFilter): FilterRead<keyof AudienceFilter>[] {
  return (Object.keys(FILTER_FIELDS) as (keyof AudienceFilter)[]).filter((key) => filter[key] !== undefined).map((key) => ({ key, ref: FILTER_FIELDS[key] }));
}

/** @throws BadUserInputError naming the bad field under `field` (`filter.countries.0`). */
export function parseAudienceFilter(input: unknown, field = 'filter'): AudienceFilter {
  const parsed = audienceFilterSchema.safeParse(stripNulls(input ?? {}));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new BadUserInputError([field, ...issue.path].join('.'), issue.message);
}

/** GraphQL passes absent optional inputs as null; the schema means "not set" by an absent key. */
function stripNulls(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, stripNulls(v)]));
}

type Members = ExpressionBuilder<Database & { m: Database['audience_members'] }, 'm'>;

/**
 * The filter as one boolean expression over `audience_members as m`: every value a bound
 * parameter, never text spliced into SQL. `now` fixes the age band to today's date.
 */
export function filterExpression(eb: Members, filter: AudienceFilter, now: Date): Expression<SqlBool> {
  const terms: Expression<SqlBool>[] = [];
  if (filter.countries) terms.push(filter.countries.length === 1 ? eb('m.country', '=', filter.countries[0]!) : eb('m.country', 'in', filter.countries));
  if (filter.locales) terms.push(eb('m.locale', 'in', filter.locales));
  if (filter.loyaltyTiers) terms.push(eb('m.loyalty_tier', 'in', filter.loyaltyTiers));
  if (filter.minLoyaltyPoints !== undefined) terms.push(eb('m.loyalty_points', '>=', filter.minLoyaltyPoints));
  if (filter.interestsAny) terms.push(eb('m.interests', '&&', eb.val(filter.interestsAny)));
  if (filter.channelsAny) terms.push(eb('m.channels', '&&', eb.val(filter.channelsAny)));
  // Age a today means born in (today - (a + 1) years, today - a years].
  if (filter.ageMin !== undefined) terms.push(eb('m.birthdate', '<=', yearsBefore(now, filter.ageMin)));
  if (filter.ageMax !== undefined) terms.push(eb('m.birthdate', '>', yearsBefore(now, filter.ageMax + 1)));
  if (filter.lastOrderAfter) terms.push(eb('m.last_order_at', '>=', filter.lastOrderAfter));
  if (filter.lastOrderBefore) terms.push(eb('m.last_order_at', '<', filter.lastOrderBefore));
  if (filter.signedUpAfter) terms.push(eb('m.signed_up_at', '>=', filter.signedUpAfter));
  if (filter.signedUpBefore) terms.push(eb('m.signed_up_at', '<', filter.signedUpBefore));
  const orders = filter.orders;
  if (orders) {
    // Neither minimum set: customers who ordered (in the period, or ever).
    const minCount = orders.minCount ?? (orders.minSpendMinor === undefined ? 1 : undefined);
    if (orders.from === undefined && orders.to === undefined) {
      // Over the customer's whole history: the stats kept on the member row, no orders read.
      if (minCount !== undefined) terms.push(eb('m.order_count', '>=', minCount));
      if (orders.minSpendMinor !== undefined) terms.push(eb('m.order_spend_minor', '>=', orders.minSpendMinor));
    } else {
      // A period: the member's orders in it, through orders_user_placed (user_id, placed_at).
      const inPeriod = eb
        .selectFrom('orders as o')
        .whereRef('o.user_id', '=', 'm.user_id')
        .$if(orders.from !== undefined, (q) => q.where('o.placed_at', '>=', orders.from!))
        .$if(orders.to !== undefined, (q) => q.where('o.placed_at', '<', orders.to!));
      if (minCount !== undefined) terms.push(eb(inPeriod.select((s) => s.fn.countAll<number>().as('n')), '>=', minCount));
      if (orders.minSpendMinor !== undefined) {
        const spend = inPeriod.select((s) => s.fn.coalesce(s.fn.sum<number>('o.total_minor').filterWhere('o.status', 'not in', UNSPENT_ORDER_STATUSES), s.lit(0)).as('spend'));
        terms.push(eb(spend, '>=', orders.minSpendMinor));
      }
    }
  }
  return eb.and(terms);
}
