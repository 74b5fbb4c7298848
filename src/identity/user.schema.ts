import { readScope } from '../authz/field-scopes.js';
import type { AddressJson } from '../db/database.js';
import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import { decodeCursor, encodeCursor, pageSize, toConnection } from '../shared/pagination.js';
import { showPreferences, type ShownPreferences } from './preferences.js';
import { OrderConnectionRef, PaymentMethodRef } from './order.schema.js';
import { orderCountLoader, orderPageLoader, paymentMethodsLoader } from './user.loaders.js';
import type { User } from './user.queries.js';

export const AddressRef = builder.objectRef<AddressJson>('Address').implement({
  fields: (t) => ({
    line1: t.exposeString('line1'),
    line2: t.exposeString('line2', { nullable: true }),
    city: t.exposeString('city'),
    region: t.exposeString('region', { nullable: true }),
    postalCode: t.exposeString('postalCode', { nullable: true, description: 'Null where the country has none.' }),
    country: t.exposeString('country', { description: 'ISO 3166-1 alpha-2.' }),
  }),
});

const SizeRef = builder.objectRef<{ kind: string; value: string }>('Size').implement({
  fields: (t) => ({ kind: t.exposeString('kind'), value: t.exposeString('value') }),
});

export const PreferencesRef = builder.objectRef<ShownPreferences>('Preferences').implement({
  description: 'Zero-party data: what the customer has told the company about themself.',
  fields: (t) => ({
    channels: t.exposeStringList('channels', { description: 'Channels the customer prefers: email, sms, push, post.' }),
    interests: t.exposeStringList('interests'),
    sizes: t.field({ type: [SizeRef], resolve: (p) => Object.entries(p.sizes ?? {}).map(([kind, value]) => ({ kind, value })) }),
    tags: t.exposeStringList('tags'),
  }),
});

export const LoyaltyRef = builder.objectRef<User['loyalty']>('Loyalty').implement({
  fields: (t) => ({ tier: t.exposeString('tier', { nullable: true }), points: t.exposeInt('points') }),
});

export const UserRef = builder.objectRef<User>('User');

const UserStatusEnum = builder.enumType('UserStatus', {
  description: 'SUSPENDED by an operator: the user’s own and their agents’ tokens are refused until reactivated.',
  values: ['ACTIVE', 'SUSPENDED'] as const,
});

/**
 * Every profile field declares its data scope (`readScope`), decided per field in src/authz; a
 * refused field is null with a FORBIDDEN error and the rest of the query resolves. `id` is the
 * key the caller reached the user by, so it needs no scope beyond reaching the user.
 */
UserRef.implement({
  description: 'A customer: one record per person, the single source of truth for their profile.',
  fields: (t) => ({
    id: t.exposeID('id'),
    status: t.field({
      type: UserStatusEnum,
      nullable: true,
      description: 'users:admin.',
      authScopes: (u) => ({ userStatus: u.id }),
      resolve: (u) => (u.status === 'suspended' ? 'SUSPENDED' : 'ACTIVE'),
    }),
    email: t.exposeString('email', { nullable: true, authScopes: readScope('contact', 'email') }),
    emailVerified: t.exposeBoolean('emailVerified', { nullable: true, authScopes: readScope('contact', 'emailVerified') }),
    phone: t.exposeString('phone', { nullable: true, description: 'E.164.', authScopes: readScope('contact', 'phone') }),
    givenName: t.exposeString('givenName', { nullable: true, authScopes: readScope('identity', 'givenName') }),
    familyName: t.exposeString('familyName', { nullable: true, authScopes: readScope('identity', 'familyName') }),
    birthdate: t.expose('birthdate', { type: 'Date', nullable: true, authScopes: readScope('identity', 'birthdate') }),
    locale: t.exposeString('locale', { nullable: true, description: 'BCP 47.', authScopes: readScope('profile', 'locale') }),
    country: t.exposeString('country', { nullable: true, description: 'ISO 3166-1 alpha-2.', authScopes: readScope('profile', 'country') }),
    address: t.field({ type: AddressRef, nullable: true, authScopes: readScope('address', 'address'), resolve: (u) => u.address }),
    preferences: t.field({ type: PreferencesRef, nullable: true, authScopes: readScope('preferences', 'preferences'), resolve: (u) => showPreferences(u.preferences) }),
    loyalty: t.field({ type: LoyaltyRef, nullable: true, authScopes: readScope('loyalty', 'loyalty'), resolve: (u) => u.loyalty }),
    paymentMethods: t.field({
      type: [PaymentMethodRef],
      nullable: true,
      authScopes: readScope('payment', 'paymentMethods'),
      resolve: (u, _args, ctx) => paymentMethodsLoader(ctx).load(u.id),
    }),
    orders: t.field({
      type: OrderConnectionRef,
      nullable: true,
      description: 'Newest first.',
      args: { first: t.arg.int(), after: t.arg.string() },
      authScopes: readScope('orders', 'orders'),
      resolve: async (u, args, ctx) => {
        const limit = pageSize(args.first);
        const after = args.after ? decodeCursor(args.after, ['date', 'string'], 'orders') : undefined;
        const key = after && { placedAt: after[0], id: after[1] };
        const rows = await orderPageLoader(ctx)(limit + 1, key).load(u.id);
        return { ...toConnection(rows, limit, (o) => encodeCursor([o.placedAt.toISOString(), o.id], 'orders'), (o) => o), userId: u.id };
      },
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true, authScopes: readScope('profile', 'createdAt') }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', nullable: true, authScopes: readScope('profile', 'updatedAt') }),
    lastLoginAt: t.expose('lastLoginAt', { type: 'DateTime', nullable: true, authScopes: readScope('profile', 'lastLoginAt') }),
  }),
});

builder.objectField(OrderConnectionRef, 'totalCount', (t) =>
  t.int({
    description: 'How many orders the user has in all; counted only when asked for.',
    resolve: (c, _args, ctx) => orderCountLoader(ctx).load(c.userId),
  }),
);

export const UserConnectionRef = connectionRef('User', UserRef);
