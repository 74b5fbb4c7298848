import { userListOrder } from '../authz/profile-access.js';
import { categoryOf, type FieldRef, type FilterRead } from '../authz/scopes.js';
import { builder } from '../graphql/builder.js';
import { decodeCursor, encodeCursor, pageSize, toConnection } from '../shared/pagination.js';
import type { Db } from '../db/connect.js';
import type { Context } from '../graphql/context.js';
import { CHANNELS } from './profile.input.js';
import type { AuthPayload } from './credentials.service.js';
import { userLoader } from './user.loaders.js';
import { listUsers, type User, type UserFilter as UserFilterKeys } from './user.queries.js';
import { UserConnectionRef, UserRef } from './user.schema.js';

const AuthPayloadRef = builder.objectRef<AuthPayload>('AuthPayload').implement({
  description: 'A signed-in session: a short-lived access token and a refresh token that rotates on every use.',
  fields: (t) => ({
    accessToken: t.exposeString('accessToken', { description: 'RFC 9068 JWT; send as `Authorization: Bearer`.' }),
    refreshToken: t.exposeString('refreshToken', { description: 'Opaque; exchange at /oauth/token with grant_type=refresh_token and client_id=hub-frontend.' }),
    expiresIn: t.exposeInt('expiresIn', { description: 'Seconds until the access token expires.' }),
    user: t.field({ type: UserRef, resolve: (payload) => payload.user }),
  }),
});

const SignUpInput = builder.inputType('SignUpInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true, description: 'At least 15 characters; no other rule.' }),
    givenName: t.string(),
    familyName: t.string(),
    locale: t.string(),
    country: t.string(),
  }),
});

const SignInInput = builder.inputType('SignInInput', {
  fields: (t) => ({ email: t.string({ required: true }), password: t.string({ required: true }) }),
});

const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  fields: (t) => ({ currentPassword: t.string({ required: true }), newPassword: t.string({ required: true }) }),
});

const AddressInput = builder.inputType('AddressInput', {
  fields: (t) => ({
    line1: t.string({ required: true }),
    line2: t.string(),
    city: t.string({ required: true }),
    region: t.string(),
    postalCode: t.string({ description: 'Left out, null or empty where the country has none (Hong Kong, the United Arab Emirates, Qatar...).' }),
    country: t.string({ required: true }),
  }),
});

const SizeInput = builder.inputType('SizeInput', {
  fields: (t) => ({ kind: t.string({ required: true }), value: t.string({ required: true }) }),
});

const PreferencesInput = builder.inputType('PreferencesInput', {
  description: 'Each list given replaces the stored one; a list left out is kept.',
  fields: (t) => ({
    channels: t.stringList({ description: `Any of ${CHANNELS.join(', ')}.` }),
    interests: t.stringList(),
    sizes: t.field({ type: [SizeInput] }),
    tags: t.stringList(),
  }),
});

const UpdateProfileInput = builder.inputType('UpdateProfileInput', {
  description: 'Only the fields given change; null clears a field.',
  fields: (t) => ({
    givenName: t.string(),
    familyName: t.string(),
    phone: t.string({ description: 'With + and the country code, in any spacing and punctuation (+44 7700 900123, +1 (415) 555-0100); stored in E.164, such as +447700900123.' }),
    birthdate: t.field({ type: 'Date' }),
    locale: t.string({ description: 'BCP 47, such as en-GB.' }),
    country: t.string({ description: 'ISO 3166-1 alpha-2.' }),
    address: t.field({ type: AddressInput }),
    preferences: t.field({ type: PreferencesInput }),
  }),
});

const UserFilter = builder.inputType('UserFilter', {
  description: 'Each key set is a read of its field: country needs profile read scope, email contact read scope (FORBIDDEN/MISSING_SCOPE otherwise).',
  fields: (t) => ({ country: t.string(), email: t.string({ description: 'Exact, as sign-in looks it up: trimmed, in any case, a Unicode domain as its ASCII form.' }) }),
});

/** The profile field each key of the user filter selects on. */
const USER_FILTER_FIELDS = {
  country: { category: 'profile', field: 'country' },
  email: { category: 'contact', field: 'email' },
} as const satisfies Record<keyof UserFilterKeys, FieldRef>;

/** The keys a filter sets, each with the field it reads, in the order of USER_FILTER_FIELDS. */
function filterReads(filter: UserFilterKeys | null | undefined): FilterRead[] {
  const keys = Object.keys(USER_FILTER_FIELDS) as (keyof UserFilterKeys)[];
  return keys.filter((key) => filter?.[key] != null).map((key) => ({ key, ref: USER_FILTER_FIELDS[key] }));
}

builder.queryFields((t) => ({
  me: t.field({
    type: UserRef,
    nullable: true,
    description: 'The user of a user or delegated token; null for any other caller.',
    resolve: (_root, _args, ctx) => {
      const { principal } = ctx;
      return principal.kind === 'user' || principal.kind === 'delegated' ? userLoader(ctx).load(principal.userId) : null;
    },
  }),
  user: t.field({
    type: UserRef,
    nullable: true,
    description: 'A user by id: for the user themself, an agent acting for them (a delegated token whose sub is theirs), or a client with users:admin; each field is then decided on its own.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ subject: String(args.id) }),
    resolve: (_root, args, ctx) => userLoader(ctx).load(String(args.id)),
  }),
  users: t.field({
    type: UserConnectionRef,
    description:
      'Every user: for users:admin, with the read scope of each field the filter selects on. Oldest first for a token that reads createdAt (profile read scope); in id order, which tells nothing of when anyone signed up, for any other.',
    args: { first: t.arg.int(), after: t.arg.string(), filter: t.arg({ type: UserFilter }) },
    authScopes: (_root, args) => ({ $all: { operator: 'users:admin', userFilter: filterReads(args.filter) } }),
    resolve: async (_root, args, ctx) => {
      const limit = pageSize(args.first);
      const after = args.after ? decodeCursor(args.after, ['usr'])[0] : undefined;
      const order = userListOrder(ctx.principal);
      const rows = await listUsers(ctx.services.db, { limit: limit + 1, order, ...(after !== undefined && { after }), ...(args.filter && { filter: args.filter }) });
      const reads = filterReads(args.filter);
      for (const user of rows) userLoader(ctx).prime(user.id, user);
      // A user listed had their id read (the list shows ids its caller did not hold, though `id`
      // needs no scope), their `createdAt` when the list is oldest first (their place in it tells
      // when they signed up), and the fields a filter selects on, into the request's
      // `profile.read` event about them.
      const shown = ['id', ...(order === 'createdAt' ? ['createdAt'] : []), ...reads.map(({ ref }) => ref.field)];
      for (const user of rows.slice(0, limit)) for (const field of shown) ctx.access.note(user.id, field);
      // The user past the page is not shown, but `hasNextPage` tells that they match the filter
      // (with `first: 0`, whether anyone has this email): a read of the fields it selects on.
      const next = rows[limit];
      if (next) for (const { ref } of reads) ctx.access.note(next.id, ref.field);
      // The cursor is the id alone, which the node shows anyway: the list's order may be by
      // `createdAt`, a profile field, and the cursor must not show it.
      return toConnection(rows, limit, (u) => encodeCursor([u.id]), (u) => u);
    },
  }),
}));

/**
 * An anonymous caller of the rest of the request becomes the user just signed in, so `user`
 * resolves for them. A caller with a token stays who it is: what it reads in the same document,
 * before or after, stays its own in the audit trail.
 */
async function signedIn(ctx: Context, payload: AuthPayload): Promise<AuthPayload> {
  if (ctx.principal.kind === 'anonymous') ctx.principal = await ctx.services.tokens.authenticate(payload.accessToken);
  return payload;
}

builder.mutationFields((t) => ({
  signUp: t.field({
    type: AuthPayloadRef,
    args: { input: t.arg({ type: SignUpInput, required: true }) },
    resolve: async (_root, args, ctx) => signedIn(ctx, await ctx.services.identity.signUp(args.input, ctx.address, ctx)),
  }),
  signIn: t.field({
    type: AuthPayloadRef,
    args: { input: t.arg({ type: SignInInput, required: true }) },
    resolve: async (_root, args, ctx) => signedIn(ctx, await ctx.services.identity.signIn(args.input, ctx.address, ctx)),
  }),
  changePassword: t.field({
    type: AuthPayloadRef,
    description:
      'The signed-in user replaces their password, giving the current one (a wrong one is BAD_USER_INPUT, throttled as sign-ins are). Every session of theirs ends, with every token agents obtained from one; the answer is a new session.',
    args: { input: t.arg({ type: ChangePasswordInput, required: true }) },
    authScopes: { signedInUser: true },
    resolve: (_root, args, ctx) => {
      const principal = ctx.principal as Extract<Context['principal'], { kind: 'user' }>;
      return ctx.services.identity.changePassword(principal.userId, args.input, ctx.address, ctx);
    },
  }),
  suspendUser: t.field({
    type: UserRef,
    description: 'users:admin. Refuses the user’s own and their agents’ tokens on the next request, and sign-in, until reactivateUser; the user leaves every audience. Revokes nothing. Suspending a suspended user changes nothing.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { operator: 'users:admin' },
    resolve: async (_root, args, ctx) => primed(ctx, await ctx.services.identity.setStatus(String(args.id), 'suspended', ctx)),
  }),
  reactivateUser: t.field({
    type: UserRef,
    description: 'users:admin. Lifts a suspension: the tokens and sessions still valid work again.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { operator: 'users:admin' },
    resolve: async (_root, args, ctx) => primed(ctx, await ctx.services.identity.setStatus(String(args.id), 'active', ctx)),
  }),
  updateProfile: t.field({
    type: UserRef,
    description: "Changes the caller's own profile; every field given is validated.",
    args: { input: t.arg({ type: UpdateProfileInput, required: true }) },
    authScopes: (_root, args) => ({ profileWrite: fieldRefsOf(args.input) }),
    resolve: async (_root, args, ctx) => {
      const principal = ctx.principal as Extract<Context['principal'], { userId: string }>;
      // An agent writes on the strength of its consent and chain: held as they are now, not as the token check read them.
      const hold = principal.kind === 'delegated' ? (tx: Db, now: Date) => ctx.services.consents.holdGrant(tx, principal, now) : undefined;
      return primed(ctx, await ctx.services.identity.updateProfile(principal.userId, args.input, ctx, hold));
    },
  }),
}));

/** The user as a mutation left it, replacing any earlier load in this request. */
function primed(ctx: Context, user: User): User {
  userLoader(ctx).clear(user.id).prime(user.id, user);
  return user;
}

/** The profile fields an update touches, each with its data category. */
function fieldRefsOf(input: object): FieldRef[] {
  return Object.keys(input).map((field) => ({ category: categoryOf(field)!, field }));
}
