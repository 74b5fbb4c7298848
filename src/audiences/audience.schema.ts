import type { AudienceFieldScope } from '../authz/audience-access.js';
import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import type { Context } from '../graphql/context.js';
import { AddressRef, LoyaltyRef, PreferencesRef } from '../identity/user.schema.js';
import { MEMBER_FIELDS, readAudienceRequest, type MemberField } from './audience.fields.js';
import { FILTER_FIELDS } from './audience.filter.js';
import { queryAudience, type AudienceMember, type AudiencePage } from './audience.service.js';

/**
 * The `authScopes` of a member field: the audience's purpose (in the version of the member's
 * consent and the newest) and the caller's token must all cover it (decided in
 * src/authz/audience-access.ts). A refused field is null with FORBIDDEN. Decided once per page
 * and purpose version, not per member: members whose consents share a version share one purpose
 * object, and for it this returns one scope map per field, which Pothos evaluates once and then
 * answers from its per-request cache by identity.
 */
function memberScope(field: MemberField) {
  const ref = { category: MEMBER_FIELDS[field].category, field };
  const byPurpose = new WeakMap<AudienceMember['purpose'], { audienceField: AudienceFieldScope }>();
  return ({ purpose }: AudienceMember): { audienceField: AudienceFieldScope } => {
    let scope = byPurpose.get(purpose);
    if (!scope) byPurpose.set(purpose, (scope = { audienceField: { purpose, ref } }));
    return scope;
  };
}

const read = (field: MemberField) => (m: AudienceMember) => MEMBER_FIELDS[field].read(m.row) as never;
const member = (field: MemberField) => ({ nullable: true as const, authScopes: memberScope(field), resolve: read(field) });

export const AudienceMemberRef = builder.objectRef<AudienceMember>('AudienceMember').implement({
  description: 'A customer in an audience: only the fields the audience’s purpose and the caller’s scopes both cover resolve.',
  fields: (t) => ({
    id: t.id({ description: 'The user id: the key of the audience’s order.', resolve: (m) => m.row.id }),
    email: t.string(member('email')),
    emailVerified: t.boolean(member('emailVerified')),
    phone: t.string(member('phone')),
    givenName: t.string(member('givenName')),
    familyName: t.string(member('familyName')),
    birthdate: t.field({ type: 'Date', ...member('birthdate') }),
    locale: t.string(member('locale')),
    country: t.string(member('country')),
    createdAt: t.field({ type: 'DateTime', ...member('createdAt') }),
    address: t.field({ type: AddressRef, ...member('address') }),
    preferences: t.field({ type: PreferencesRef, ...member('preferences') }),
    loyalty: t.field({ type: LoyaltyRef, ...member('loyalty') }),
  }),
});

export const AudienceConnectionRef = connectionRef<AudienceMember, Pick<AudiencePage, 'count'>>('Audience', AudienceMemberRef);

builder.objectField(AudienceConnectionRef, 'totalCount', (t) =>
  t.int({ description: 'How many members the audience has now; counted only when asked for.', resolve: (c) => c.count() }),
);

const OrderPeriodFilter = builder.inputType('AudienceOrderFilter', {
  description: 'Orders placed in [from, to) (the whole history when both are left out).',
  fields: (t) => ({
    from: t.field({ type: 'DateTime' }),
    to: t.field({ type: 'DateTime' }),
    minCount: t.int(),
    minSpendMinor: t.field({ type: 'SafeInt', description: 'Total spend in minor units of the customer’s currency.' }),
  }),
});

/** A filter field's description, ending with the member field it selects on (FILTER_FIELDS). */
function selectsOn(key: keyof typeof FILTER_FIELDS, text?: string): { description: string } {
  const { category, field } = FILTER_FIELDS[key];
  return { description: `${text ? `${text} ` : ''}Selects on User.${field} (category ${category}).` };
}

export const AudienceFilterInput = builder.inputType('AudienceFilter', {
  description:
    'Every field optional; a list matches any of its values; all fields together. A field selects on a member field, and is refused ' +
    '(FORBIDDEN, PURPOSE_NOT_COVERED or MISSING_SCOPE) unless the purpose and the caller’s scopes both cover that field.',
  fields: (t) => ({
    countries: t.stringList(selectsOn('countries', 'ISO 3166-1 alpha-2.')),
    locales: t.stringList(selectsOn('locales', 'BCP 47.')),
    loyaltyTiers: t.stringList(selectsOn('loyaltyTiers', 'bronze, silver, gold, platinum.')),
    minLoyaltyPoints: t.int(selectsOn('minLoyaltyPoints')),
    interestsAny: t.stringList(selectsOn('interestsAny')),
    channelsAny: t.stringList(selectsOn('channelsAny', 'email, sms, push, post.')),
    ageMin: t.int(selectsOn('ageMin')),
    ageMax: t.int(selectsOn('ageMax')),
    lastOrderAfter: t.field({ type: 'DateTime', ...selectsOn('lastOrderAfter') }),
    lastOrderBefore: t.field({ type: 'DateTime', ...selectsOn('lastOrderBefore') }),
    orders: t.field({ type: OrderPeriodFilter, ...selectsOn('orders') }),
    signedUpAfter: t.field({ type: 'DateTime', ...selectsOn('signedUpAfter') }),
    signedUpBefore: t.field({ type: 'DateTime', ...selectsOn('signedUpBefore') }),
  }),
});

/** Who asks, for the audit trail. */
export const audienceCaller = (ctx: Context) => ({ principal: ctx.principal, requestId: ctx.requestId });

builder.queryField('audience', (t) =>
  t.field({
    type: AudienceConnectionRef,
    description: 'Customers with a consent to the company for this purpose in force now, in user-id order; audience:read.',
    args: { purpose: t.arg.string({ required: true }), filter: t.arg({ type: AudienceFilterInput }), first: t.arg.int(), after: t.arg.string() },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, args, ctx, info) => queryAudience(ctx.services, audienceCaller(ctx), { ...args, asked: readAudienceRequest(info) }),
  }),
);
