import { sql, type Selectable } from 'kysely';
import type { Db } from '../db/connect.js';
import type { SavedAudiencesTable } from '../db/database.js';

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
function toSavedAudience(row: Selectable<SavedAudiencesTable>): SavedAudience {
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

/** How many audiences this client saved (`null`: saved by no client). Reads `saved_audiences_creator`. */
export async function countSavedAudiencesOf(db: Db, createdBy: string | null): Promise<number> {
  const row = await db
    .selectFrom('saved_audiences')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('created_by', createdBy === null ? 'is' : '=', createdBy)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Serializes saves by one client for the rest of the transaction, so a limit on how many it keeps
 * holds under concurrent creation; other clients' saves do not wait.
 */
export async function lockSavedAudiencesOf(db: Db, createdBy: string | null): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`saved_audiences:${createdBy ?? ''}`}))`.execute(db);
}

/** The audience with this id if this client saved it; undefined otherwise. */
export async function findSavedAudienceOf(db: Db, id: string, createdBy: string): Promise<SavedAudience | undefined> {
  const row = await db.selectFrom('saved_audiences').selectAll().where('id', '=', id).where('created_by', '=', createdBy).executeTakeFirst();
  return row && toSavedAudience(row);
}

/**
 * A page of the audiences one client saved, in creation order after `afterId`. Ids are ULIDs, in
 * time order byte by byte, which a database's own collation may not keep (a Czech one sorts CH
 * after H): they are compared as bytes. Reads `saved_audiences_creator` (migration 0007) for the
 * client's at most MAX_SAVED_AUDIENCES rows, and sorts them.
 */
export async function listSavedAudiencesOf(db: Db, createdBy: string, limit: number, afterId?: string): Promise<SavedAudience[]> {
  const id = sql<string>`id collate "C"`;
  const rows = await db
    .selectFrom('saved_audiences')
    .selectAll()
    .where('created_by', '=', createdBy)
    .$if(afterId !== undefined, (q) => q.where(id, '>', afterId!))
    .orderBy(id)
    .limit(limit)
    .execute();
  return rows.map(toSavedAudience);
}

/** Deletes the audience if this client saved it; the deleted row, or undefined. */
export async function deleteSavedAudienceOf(db: Db, id: string, createdBy: string): Promise<SavedAudience | undefined> {
  const row = await db.deleteFrom('saved_audiences').where('id', '=', id).where('created_by', '=', createdBy).returningAll().executeTakeFirst();
  return row && toSavedAudience(row);
}
