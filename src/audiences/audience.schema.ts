import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import type { Context } from '../graphql/context.js';
import { withinErrorBudget } from '../graphql/error-budget.js';
import { AddressRef, LoyaltyRef, PreferencesRef } from '../identity/user.schema.js';
import type { ForbiddenError } from '../shared/errors.js';
import { readAudienceRequest } from './audience.fields.js';
import { FILTER_FIELDS } from './audience.filter.js';
import { queryAudience, type AudienceMember, type AudiencePage } from './audience.service.js';

/**
 * A member's fields hold what the page decided for them: the value, or the refusal, which GraphQL
 * answers as null with FORBIDDEN and the reason. Each field's data category is declared in
 * MEMBER_FIELDS and decided by src/authz (`decideAudienceField`) when the page builds its members
 * (`showMember`), once per purpose version, as a resolver's scope check would for every member.
 */
const shown = { nullable: true } as const;

const AudienceMemberRef = builder.objectRef<AudienceMember>('AudienceMember').implement({
  description: 'A customer in an audience: only the fields the audience’s purpose and the caller’s scopes both cover resolve.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The user id: the key of the audience’s order.' }),
    email: t.exposeString('email', shown),
    emailVerified: t.exposeBoolean('emailVerified', shown),
    phone: t.exposeString('phone', shown),
    givenName: t.exposeString('givenName', shown),
    familyName: t.exposeString('familyName', shown),
    birthdate: t.expose('birthdate', { type: 'Date', ...shown }),
    locale: t.exposeString('locale', shown),
    country: t.exposeString('country', shown),
    createdAt: t.expose('createdAt', { type: 'DateTime', ...shown }),
    address: t.expose('address', { type: AddressRef, ...shown }),
    preferences: t.expose('preferences', { type: PreferencesRef, ...shown }),
    loyalty: t.expose('loyalty', { type: LoyaltyRef, ...shown }),
  }),
});

export const AudienceConnectionRef = connectionRef<AudienceMember, Pick<AudiencePage, 'count'>>('Audience', AudienceMemberRef);

builder.objectField(AudienceConnectionRef, 'totalCount', (t) =>
  t.int({ description: 'How many members the audience has now; counted only when asked for.', resolve: (c) => c.count() }),
);

const OrderPeriodFilter = builder.inputType('AudienceOrderFilter', {
  description:
    'Orders placed in [from, to) (the whole history when both are left out): at least minCount of them (1 when neither minimum is set), ' +
    'and at least minSpendMinor in all.',
  fields: (t) => ({
    from: t.field({ type: 'DateTime' }),
    to: t.field({ type: 'DateTime' }),
    minCount: t.int(),
    minSpendMinor: t.field({ type: 'SafeInt', description: 'Total spend in minor units of the customer’s currency, of the orders neither cancelled nor refunded (those count toward minCount as orders placed).' }),
  }),
});

/** A filter field's description, ending with the member field it selects on (FILTER_FIELDS). */
function selectsOn(key: keyof typeof FILTER_FIELDS, text?: string): { description: string } {
  const { category, field } = FILTER_FIELDS[key];
  return { description: `${text ? `${text} ` : ''}Selects on User.${field} (category ${category}).` };
}

/** How the age band counts (audience.filter.ts): the marketer's own day may already be another. */
const AGE_TODAY = 'in whole years on today’s date in UTC, the bound included (born on February 29: a year older on March 1 in other years).';

export const AudienceFilterInput = builder.inputType('AudienceFilter', {
  description:
    'Every field optional; a list matches any of its values; all fields together. A field selects on a member field, and is refused ' +
    '(FORBIDDEN, PURPOSE_NOT_COVERED or MISSING_SCOPE) unless the purpose and the caller’s scopes both cover that field.',
  fields: (t) => ({
    countries: t.stringList(selectsOn('countries', 'ISO 3166-1 alpha-2.')),
    locales: t.stringList(selectsOn('locales', 'BCP 47, compared in canonical form (sv-se selects sv-SE).')),
    loyaltyTiers: t.stringList(selectsOn('loyaltyTiers', 'bronze, silver, gold, platinum.')),
    minLoyaltyPoints: t.int(selectsOn('minLoyaltyPoints')),
    interestsAny: t.stringList(selectsOn('interestsAny', 'Compared as the profile stores them: trimmed and lowercased.')),
    channelsAny: t.stringList(selectsOn('channelsAny', 'email, sms, push, post.')),
    ageMin: t.int(selectsOn('ageMin', `At least this age, ${AGE_TODAY}`)),
    ageMax: t.int(selectsOn('ageMax', `At most this age, ${AGE_TODAY}`)),
    lastOrderAfter: t.field({ type: 'DateTime', ...selectsOn('lastOrderAfter', 'Last order placed at or after this instant.') }),
    lastOrderBefore: t.field({ type: 'DateTime', ...selectsOn('lastOrderBefore', 'Last order placed before this instant, not at it.') }),
    orders: t.field({ type: OrderPeriodFilter, ...selectsOn('orders') }),
    signedUpAfter: t.field({ type: 'DateTime', ...selectsOn('signedUpAfter', 'Signed up at or after this instant.') }),
    signedUpBefore: t.field({ type: 'DateTime', ...selectsOn('signedUpBefore', 'Signed up before this instant, not at it.') }),
  }),
});

/** Who asks, for the audit trail. */
export const audienceCaller = (ctx: Context) => ({ principal: ctx.principal, requestId: ctx.requestId });

/**
 * A refused member field as the request answers it: a page of 1,000 members refused a few fields
 * each makes thousands of errors, of which the answer carries the first MAX_CLIENT_ERRORS
 * (`withinErrorBudget`). The members' fields have no resolver, so that graphql-jit reads them as
 * properties: the budget is spent here, as the page shows its members, once for each time the
 * answer shows the field (each alias is an error of its own, located by graphql-js).
 */
export const answeredRefusal = (ctx: Context) => (refusal: ForbiddenError, answers: number) => withinErrorBudget(ctx, () => refusal, answers);

builder.queryField('audience', (t) =>
  t.field({
    type: AudienceConnectionRef,
    description: 'Customers with a consent to the company for this purpose in force now, in user-id order; audience:read.',
    args: { purpose: t.arg.string({ required: true }), filter: t.arg({ type: AudienceFilterInput }), first: t.arg.int(), after: t.arg.string() },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, args, ctx, info) => queryAudience(ctx.services, audienceCaller(ctx), { ...args, asked: readAudienceRequest(info), refused: answeredRefusal(ctx) }),
  }),
);
