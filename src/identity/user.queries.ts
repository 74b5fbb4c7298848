import { sql, type Selectable } from 'kysely';
import type { AddressJson, PreferencesJson, UsersTable } from '../db/database.js';
import type { Db } from '../db/connect.js';
import { PREPARED_MARKER } from '../db/prepared.js';
import { normalizeEmail } from './profile.input.js';

/** A customer's 360° profile, as the domain sees it. */
export interface User {
  readonly id: string;
  readonly status: 'active' | 'suspended' | 'erased';
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly phone: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
  readonly birthdate: string | null;
  readonly locale: string | null;
  readonly country: string | null;
  readonly address: AddressJson | null;
  readonly preferences: PreferencesJson;
  readonly loyalty: { readonly tier: string | null; readonly points: number };
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly lastLoginAt: Date | null;
}

/** What `toUser` reads of a `users` row. */
type UserRow = Pick<
  Selectable<UsersTable>,
  'id' | 'status' | 'email' | 'email_verified' | 'phone' | 'given_name' | 'family_name' | 'birthdate' | 'locale' | 'country' | 'address' | 'preferences' | 'loyalty_tier' | 'loyalty_points' | 'created_at' | 'updated_at' | 'last_login_at'
>;

/** The one mapping from a `users` row to a User. */
export function toUser(row: UserRow): User {
  return {
    id: row.id,
    status: row.status,
    email: row.email,
    emailVerified: row.email_verified,
    phone: row.phone,
    givenName: row.given_name,
    familyName: row.family_name,
    birthdate: row.birthdate,
    locale: row.locale,
    country: row.country,
    address: row.address,
    preferences: row.preferences,
    loyalty: { tier: row.loyalty_tier, points: row.loyalty_points },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastLoginAt: row.last_login_at,
  };
}

/** The columns `toUser` reads, named: see `findUsersByIds`. */
const USER_COLUMNS = sql.raw(
  'id, status, email, email_verified, phone, given_name, family_name, birthdate, locale, country, address, preferences, loyalty_tier, loyalty_points, created_at, updated_at, last_login_at',
);

/**
 * Users by id, not erased. Prepared, as the profile reads of every request are (see
 * PREPARED_MARKER): its text never varies with how many ids, and it names its columns, so a
 * column a later migration adds does not change the result of a statement a running instance has
 * prepared.
 */
export async function findUsersByIds(db: Db, ids: readonly string[]): Promise<User[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<UserRow>`${sql.raw(PREPARED_MARKER)}
    select ${USER_COLUMNS} from users where id = any(${[...ids]}::text[]) and status <> 'erased'`.execute(db);
  return rows.map(toUser);
}

/**
 * A user who is not erased, with their row locked until the transaction ends: for a change made
 * from what the row holds (preferences merged into the stored ones), so that no concurrent change
 * is written over unseen. FOR NO KEY UPDATE, as the profile's UPDATE takes: FOR UPDATE would also
 * hold up every row inserted for the user (a consent, a refresh token), and an agent's write,
 * which then waits for the user's consent lock (`ConsentService.holdGrant`), would deadlock with a
 * consent given meanwhile.
 */
export async function findUserForUpdate(tx: Db, id: string): Promise<User | undefined> {
  const row = await tx.selectFrom('users').selectAll().where('id', '=', id).where('status', '!=', 'erased').forNoKeyUpdate().executeTakeFirst();
  return row && toUser(row);
}

/**
 * Whether the user is active, with their row locked FOR SHARE until the transaction ends: a change
 * of their status (a suspension, an erasure) either committed before this read or waits for the
 * transaction to end.
 */
export async function isUserActiveForShare(tx: Db, id: string): Promise<boolean> {
  const row = await tx.selectFrom('users').select('status').where('id', '=', id).forShare().executeTakeFirst();
  return row?.status === 'active';
}

/** The account behind an email as `normalizeEmail` gives it, with its password hash; for sign-in only. */
export async function findCredentialsByEmail(db: Db, email: string) {
  return db
    .selectFrom('users')
    .select(['id', 'status', 'password_hash'])
    .where((eb) => eb(eb.fn('lower', ['email']), '=', email))
    .executeTakeFirst();
}

/** A user's email, status and password hash, by id; for a password change only. */
export async function findCredentialsById(db: Db, id: string) {
  return db.selectFrom('users').select(['email', 'status', 'password_hash']).where('id', '=', id).executeTakeFirst();
}

/**
 * Replaces an active user's password hash if it is still `current`: resolves to false, changing
 * nothing, when another change replaced it first (or the user is no longer active).
 */
export async function replacePasswordHash(db: Db, id: string, current: string, next: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ password_hash: next, updated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'active')
    .where('password_hash', '=', current)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Sets a user's status to `status`, locking the row first: resolves to the user as it is then,
 * with whether this call changed it; undefined for an unknown or erased user.
 */
export async function setUserStatus(tx: Db, id: string, status: 'active' | 'suspended', now: Date): Promise<{ user: User; changed: boolean } | undefined> {
  const row = await tx.selectFrom('users').selectAll().where('id', '=', id).where('status', '!=', 'erased').forNoKeyUpdate().executeTakeFirst();
  if (!row) return undefined;
  if (row.status === status) return { user: toUser(row), changed: false };
  const updated = await tx.updateTable('users').set({ status, updated_at: now }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  return { user: toUser(updated), changed: true };
}

export interface NewUser {
  readonly id: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly givenName?: string | null;
  readonly familyName?: string | null;
  readonly locale?: string | null;
  readonly country?: string | null;
  /** When the user signed up, by the hub's clock: their creation, last change and last sign-in. */
  readonly now: Date;
}

/** Inserts a user; resolves to undefined when the email is taken (whatever its case). */
export async function insertUser(db: Db, user: NewUser): Promise<User | undefined> {
  const row = await db
    .insertInto('users')
    .values({
      id: user.id,
      email: user.email,
      password_hash: user.passwordHash,
      given_name: user.givenName ?? null,
      family_name: user.familyName ?? null,
      locale: user.locale ?? null,
      country: user.country ?? null,
      created_at: user.now,
      updated_at: user.now,
      last_login_at: user.now,
    })
    .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

/** The profile columns updateProfile may set; absent keys are left as they are. */
export interface ProfileChanges {
  phone?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  birthdate?: string | null;
  locale?: string | null;
  country?: string | null;
  address?: AddressJson | null;
  preferences?: PreferencesJson;
}

export async function updateUserProfile(db: Db, id: string, changes: ProfileChanges, now: Date): Promise<User | undefined> {
  const row = await db
    .updateTable('users')
    .set({
      ...('phone' in changes && { phone: changes.phone }),
      ...('givenName' in changes && { given_name: changes.givenName }),
      ...('familyName' in changes && { family_name: changes.familyName }),
      ...('birthdate' in changes && { birthdate: changes.birthdate }),
      ...('locale' in changes && { locale: changes.locale }),
      ...('country' in changes && { country: changes.country }),
      ...('address' in changes && { address: changes.address ? JSON.stringify(changes.address) : null }),
      ...(changes.preferences && { preferences: JSON.stringify(changes.preferences) }),
      updated_at: now,
    })
    .where('id', '=', id)
    .where('status', '=', 'active')
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

export async function touchLastLogin(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('users').set({ last_login_at: now }).where('id', '=', id).execute();
}

/**
 * Records a sign-in of an active user whose password hash is still `checkedHash`, the one the
 * password was verified against, and resolves to the user; undefined, changing nothing, when the
 * password was replaced or the user suspended or erased since it was read. The update locks the
 * row until the transaction ends, as `replacePasswordHash` does, so a concurrent password change
 * either committed first (and this matches nothing) or waits for the sign-in to commit.
 */
export async function touchLastLoginIfCredentialsHold(db: Db, id: string, checkedHash: string, now: Date): Promise<User | undefined> {
  const row = await db
    .updateTable('users')
    .set({ last_login_at: now })
    .where('id', '=', id)
    .where('status', '=', 'active')
    .where('password_hash', '=', checkedHash)
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

export interface UserFilter {
  readonly country?: string | null;
  readonly email?: string | null;
}

/**
 * A page of users in creation order (`order: 'createdAt'`) or in id order, after the user with the
 * id `after` (the last of the previous page). In creation order the position is read here rather
 * than taken from the caller: a cursor carrying `created_at` would show a profile field to
 * whoever may list users without reading it, and a made-up one would select on it; an id that
 * names no user then leaves the page empty.
 */
export async function listUsers(db: Db, options: { limit: number; order: 'createdAt' | 'id'; after?: string; filter?: UserFilter }): Promise<User[]> {
  const { filter, after } = options;
  let query = db.selectFrom('users').selectAll().where('status', '!=', 'erased');
  // A key set to '' selects on it as any other value does (no user has it), as the scope check and the audit take it.
  if (filter?.country != null) query = query.where('country', '=', filter.country.toUpperCase());
  // As sign-in looks it up (`normalizeEmail`): one person found under either form of their domain.
  if (filter?.email != null) query = query.where((eb) => eb(eb.fn('lower', ['email']), '=', normalizeEmail(filter.email!)));
  if (options.order === 'id') {
    if (after !== undefined) query = query.where('id', '>', after);
    return (await query.orderBy('id').limit(options.limit).execute()).map(toUser);
  }
  if (after !== undefined) query = query.where(sql<boolean>`(created_at, id) > (select p.created_at, p.id from users p where p.id = ${after})`);
  const rows = await query.orderBy('created_at').orderBy('id').limit(options.limit).execute();
  return rows.map(toUser);
}
