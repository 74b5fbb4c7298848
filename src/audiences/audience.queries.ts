import type { Selectable } from 'kysely';
import type { SavedAudiencesTable } from '../db/database.js';
import type { Db } from '../db/connect.js';
import { toUser, type User } from '../identity/user.queries.js';
import { filterExpression, type AudienceFilter } from './audience.filter.js';

/**
 * What selects an audience: its purpose, the filter, and the instant its consents must be in
 * force at (compared in the query: no job has to mark expired consents first).
 */
export interface AudienceSelection {
  readonly purpose: string;
  readonly filter: AudienceFilter;
  readonly now: Date;
}

/**
 * The members of a selection, one statement for any filter. Why it is fast: `audience_members`
 * (migration 0006) already holds exactly the live company consents of active users with the
 * attributes filtered on, so the plan is one index range of that narrow table, walked in
 * user-id order by its primary key (purpose, user_id) — or, with a country, by
 * (purpose, country, user_id) — stopping at the page's last row; only those rows then join
 * `users` by primary key for the fields a member shows. No hash of a million users, no sort.
 */
function members(db: Db, selection: AudienceSelection) {
  return db
    .selectFrom('audience_members as m')
    .where('m.purpose', '=', selection.purpose)
    .where((eb) => eb.or([eb('m.expires_at', 'is', null), eb('m.expires_at', '>', selection.now)]))
    .where((eb) => filterExpression(eb, selection.filter, selection.now));
}

/** A page of members in user-id order after `afterUserId` (keyset: stays right while consents change). */
export async function findAudiencePage(db: Db, selection: AudienceSelection, limit: number, afterUserId?: string): Promise<User[]> {
  const rows = await members(db, selection)
    .innerJoin('users as u', 'u.id', 'm.user_id')
    // The triggers keep only active users in audience_members; this keeps the guarantee local.
    .where('u.status', '=', 'active')
    .$if(afterUserId !== undefined, (q) => q.where('m.user_id', '>', afterUserId!))
    .selectAll('u')
    .orderBy('m.user_id')
    .limit(limit)
    .execute();
  return rows.map(toUser);
}

/** How many members the selection has now: an index-only count of `audience_members`. */
export async function countAudience(db: Db, selection: AudienceSelection): Promise<number> {
  const row = await members(db, selection)
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** A saved audience as the domain sees it. */
export interface SavedAudience {
  readonly id: string;
  readonly name: string;
  readonly purpose: string;
  /** As stored: parse it with `parseAudienceFilter` before use. */
  readonly filter: unknown;
  readonly createdBy: string | null;
  readonly createdAt: Date;
}

/** The one mapping from a `saved_audiences` row to a SavedAudience. */
export function toSavedAudience(row: Selectable<SavedAudiencesTable>): SavedAudience {
  return { id: row.id, name: row.name, purpose: row.purpose, filter: row.filter, createdBy: row.created_by, createdAt: row.created_at };
}

export async function insertSavedAudience(db: Db, audience: Omit<SavedAudience, 'createdAt'>, now: Date): Promise<SavedAudience> {
  const row = await db
    .insertInto('saved_audiences')
    .values({ id: audience.id, name: audience.name, purpose: audience.purpose, filter: JSON.stringify(audience.filter), created_by: audience.createdBy, created_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSavedAudience(row);
}

export async function findSavedAudienceById(db: Db, id: string): Promise<SavedAudience | undefined> {
  const row = await db.selectFrom('saved_audiences').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toSavedAudience(row);
}
