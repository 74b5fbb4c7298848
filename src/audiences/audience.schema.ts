import type { AudienceFieldScope } from '../authz/audience-access.js';
import type { DataCategory } from '../authz/scopes.js';
import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import type { Context } from '../graphql/context.js';
import { AddressRef, LoyaltyRef, PreferencesRef } from '../identity/user.schema.js';
import { createSavedAudience, findSavedAudience, queryAudience, type AudienceMember, type AudiencePage, type SavedAudience } from './audience.service.js';

/**
 * The `authScopes` of a member field: the audience's purpose and the caller's token must both
 * cover it (decided in src/authz/audience-access.ts). A refused field is null with FORBIDDEN.
 */
function memberScope(category: DataCategory, field: string) {
  return (member: AudienceMember): { audienceField: AudienceFieldScope } => ({
    audienceField: { purpose: { key: member.purpose.key, dataCategories: member.purpose.dataCategories }, ref: { category, field } },
  });
}

export const AudienceMemberRef = builder.objectRef<AudienceMember>('AudienceMember').implement({
  description: 'A customer in an audience: only the fields the audience’s purpose and the caller’s scopes both cover resolve.',
  fields: (t) => ({
    id: t.id({ description: 'The user id: the key of the audience’s order.', resolve: (m) => m.user.id }),
    email: t.string({ nullable: true, authScopes: memberScope('contact', 'email'), resolve: (m) => m.user.email }),
    emailVerified: t.boolean({ nullable: true, authScopes: memberScope('contact', 'emailVerified'), resolve: (m) => m.user.emailVerified }),
    phone: t.string({ nullable: true, authScopes: memberScope('contact', 'phone'), resolve: (m) => m.user.phone }),
    givenName: t.string({ nullable: true, authScopes: memberScope('identity', 'givenName'), resolve: (m) => m.user.givenName }),
    familyName: t.string({ nullable: true, authScopes: memberScope('identity', 'familyName'), resolve: (m) => m.user.familyName }),
    birthdate: t.field({ type: 'Date', nullable: true, authScopes: memberScope('identity', 'birthdate'), resolve: (m) => m.user.birthdate }),
    locale: t.string({ nullable: true, authScopes: memberScope('profile', 'locale'), resolve: (m) => m.user.locale }),
    country: t.string({ nullable: true, authScopes: memberScope('profile', 'country'), resolve: (m) => m.user.country }),
    createdAt: t.field({ type: 'DateTime', nullable: true, authScopes: memberScope('profile', 'createdAt'), resolve: (m) => m.user.createdAt }),
    address: t.field({ type: AddressRef, nullable: true, authScopes: memberScope('address', 'address'), resolve: (m) => m.user.address }),
    preferences: t.field({ type: PreferencesRef, nullable: true, authScopes: memberScope('preferences', 'preferences'), resolve: (m) => m.user.preferences }),
    loyalty: t.field({ type: LoyaltyRef, nullable: true, authScopes: memberScope('loyalty', 'loyalty'), resolve: (m) => m.user.loyalty }),
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
    minSpendMinor: t.int({ description: 'Total spend in minor units of the customer’s currency.' }),
  }),
});

export const AudienceFilterInput = builder.inputType('AudienceFilter', {
  description: 'Every field optional; a list matches any of its values; all fields together.',
  fields: (t) => ({
    countries: t.stringList({ description: 'ISO 3166-1 alpha-2.' }),
    locales: t.stringList({ description: 'BCP 47.' }),
    loyaltyTiers: t.stringList({ description: 'bronze, silver, gold, platinum.' }),
    minLoyaltyPoints: t.int(),
    interestsAny: t.stringList(),
    channelsAny: t.stringList({ description: 'email, sms, push, post.' }),
    ageMin: t.int(),
    ageMax: t.int(),
    lastOrderAfter: t.field({ type: 'DateTime' }),
    lastOrderBefore: t.field({ type: 'DateTime' }),
    orders: t.field({ type: OrderPeriodFilter }),
    signedUpAfter: t.field({ type: 'DateTime' }),
    signedUpBefore: t.field({ type: 'DateTime' }),
  }),
});

const caller = (ctx: Context) => ({ principal: ctx.principal, requestId: ctx.requestId });

builder.queryField('audience', (t) =>
  t.field({
    type: AudienceConnectionRef,
    description: 'Customers with a consent to the company for this purpose in force now, in user-id order; audience:read.',
    args: { purpose: t.arg.string({ required: true }), filter: t.arg({ type: AudienceFilterInput }), first: t.arg.int(), after: t.arg.string() },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, args, ctx) => queryAudience(ctx.services, caller(ctx), args),
  }),
);

export const SavedAudienceRef = builder.objectRef<SavedAudience>('SavedAudience').implement({
  description: 'A named selection (purpose and filter) whose members are read live on every query and export.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    purpose: t.exposeString('purpose'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    members: t.field({
      type: AudienceConnectionRef,
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: (a, args, ctx) => queryAudience(ctx.services, caller(ctx), { purpose: a.purpose, filter: a.filter, first: args.first, after: args.after, savedAudienceId: a.id }),
    }),
  }),
});

builder.queryField('savedAudience', (t) =>
  t.field({
    type: SavedAudienceRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, args, ctx) => findSavedAudience(ctx.services.db, String(args.id)),
  }),
);

const CreateAudienceInput = builder.inputType('CreateAudienceInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    purpose: t.string({ required: true }),
    filter: t.field({ type: AudienceFilterInput }),
  }),
});

builder.mutationField('createAudience', (t) =>
  t.field({
    type: SavedAudienceRef,
    description: 'Saves a selection under a name; audience:read. Export it with GET /audiences/{id}/export.',
    args: { input: t.arg({ type: CreateAudienceInput, required: true }) },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, { input }, ctx) => createSavedAudience(ctx.services, caller(ctx), input),
  }),
);
