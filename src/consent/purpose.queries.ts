import { sql, type Selectable } from 'kysely';
import type { PurposesTable } from '../db/database.js';
import type { Db } from '../db/connect.js';
import type { LawfulBasis, Purpose } from './purposes.js';

/** The one mapping from a `purposes` row to a Purpose. */
function toPurpose(row: Selectable<PurposesTable>): Purpose {
  return {
    key: row.key,
    version: String(row.version),
    title: row.title,
    description: row.description,
    lawfulBasis: row.lawful_basis as LawfulBasis,
    dataCategories: row.data_categories,
    noticeUrl: row.notice_url,
    noticeText: row.notice_text,
    noticeSha256: row.notice_sha256,
    language: row.language,
    jurisdiction: row.jurisdiction,
  };
}

/** The newest version of each purpose, or of those with these keys; by key. */
export async function findLatestPurposes(db: Db, keys?: readonly string[]): Promise<Purpose[]> {
  if (keys && keys.length === 0) return [];
  let query = db.selectFrom('purposes').selectAll().distinctOn('key').orderBy('key').orderBy('version', 'desc');
  if (keys) query = query.where('key', 'in', keys);
  return (await query.execute()).map(toPurpose);
}

/**
 * These versions of purposes, each once, those that exist (a version that is not a number names
 * none). One statement with two array parameters, however many are wanted: the thousands of
 * consents an agent's decommissioning withdraws name a handful of versions.
 */
export async function findPurposesAt(db: Db, wanted: readonly { readonly key: string; readonly version: string }[]): Promise<Purpose[]> {
  const known = new Map(wanted.filter((w) => /^[0-9]{1,9}$/.test(w.version)).map((w) => [`${w.key}@${w.version}`, w]));
  if (known.size === 0) return [];
  const keys = [...known.values()].map((w) => w.key);
  const versions = [...known.values()].map((w) => Number(w.version));
  const { rows } = await sql<Selectable<PurposesTable>>`
    select p.* from unnest(${keys}::text[], ${versions}::int[]) as w(key, version)
    join purposes p on p.key = w.key and p.version = w.version`.execute(db);
  return rows.map(toPurpose);
}

/** Every version of the purpose with this key, newest first; empty for an unknown key. */
export async function findPurposeVersions(db: Db, key: string): Promise<Purpose[]> {
  return (await db.selectFrom('purposes').selectAll().where('key', '=', key).orderBy('version', 'desc').execute()).map(toPurpose);
}

/** Serializes changes of one purpose until the transaction ends. */
export async function lockPurpose(db: Db, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`purposes:${key}`}))`.execute(db);
}

/** The channel that announces new purpose versions (see createPurposeRegistry). */
export const PURPOSES_CHANNEL = 'hub_purposes';

/** Tells every instance, once the transaction commits, that a purpose changed (see createPurposeRegistry). */
export async function notifyPurposesChanged(db: Db): Promise<void> {
  await sql`select pg_notify(${PURPOSES_CHANNEL}, '')`.execute(db);
}

export async function insertPurposeVersion(db: Db, purpose: Omit<Purpose, 'version'> & { version: number }, now: Date): Promise<Purpose> {
  const row = await db
    .insertInto('purposes')
    .values({
      key: purpose.key,
      version: purpose.version,
      title: purpose.title,
      description: purpose.description,
      lawful_basis: purpose.lawfulBasis,
      data_categories: [...purpose.dataCategories],
      notice_url: purpose.noticeUrl,
      notice_text: purpose.noticeText,
      notice_sha256: purpose.noticeSha256,
      language: purpose.language,
      jurisdiction: purpose.jurisdiction,
      created_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toPurpose(row);
}
