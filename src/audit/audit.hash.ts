import { hash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AuditEventsTable } from '../db/audit-tables.js';
import { sortKeys } from '../shared/canonical-json.js';

/** The `prev_hash` of the first event of every chain. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** What an event's hash covers: every column but the hash itself. */
export type HashedAuditRow = Omit<Selectable<AuditEventsTable>, 'hash'>;

/** What an event says: every column but its place in its chain and its hash. */
export const AUDIT_CONTENT_COLUMNS = [
  'id',
  'occurred_at',
  'action',
  'actor_kind',
  'actor_id',
  'actor_chain',
  'subject_user_id',
  'client_id',
  'purpose',
  'consent_id',
  'fields_read',
  'fields_denied',
  'decision',
  'reason',
  'request_id',
  'detail',
] as const satisfies readonly (keyof HashedAuditRow)[];

/** The columns `canonicalAuditRow` serializes, in the order it does, after its format's name. */
export const CANONICAL_AUDIT_COLUMNS = [...AUDIT_CONTENT_COLUMNS, 'chain_key', 'chain_seq', 'prev_hash'] as const satisfies readonly (keyof HashedAuditRow)[];

/**
 * The columns `canonicalAuditRow` serializes. Verification refuses a row that holds any other: a
 * column added to the table (with a default, which fires no row trigger) is one no hash covers.
 */
export const HASHED_AUDIT_COLUMNS: ReadonlySet<string> = new Set<keyof HashedAuditRow>(CANONICAL_AUDIT_COLUMNS);

/**
 * SHA-256 over the canonical serialization of an event: a JSON array of every content column
 * plus chain_key, chain_seq and prev_hash, in a fixed order; `detail` with its keys sorted at
 * every depth (jsonb keeps its own key order); the time as an ISO string with milliseconds (the
 * column's precision); bytes as hex. A row as written and the same row read back through `pg` or
 * PGlite serialize identically, so verification recomputes exactly what the append computed.
 */
export function hashAuditRow(row: HashedAuditRow): Buffer {
  return hashCanonicalAuditRow(canonicalAuditRow(row));
}

/** `hashAuditRow` of the text `canonicalAuditRow` made, for a caller that keeps the text too. */
export function hashCanonicalAuditRow(canonical: string): Buffer {
  // One call with no Hash object to build: about half the cost per event.
  return hash('sha256', canonical, 'buffer');
}

/**
 * The exact text `hashAuditRow` hashes, its values in the order of CANONICAL_AUDIT_COLUMNS after
 * the format's name; exported so the format can be inspected and tested.
 */
export function canonicalAuditRow(row: HashedAuditRow): string {
  return JSON.stringify([
    'audit-event/1',
    row.id,
    row.occurred_at.toISOString(),
    row.action,
    row.actor_kind,
    row.actor_id,
    row.actor_chain,
    row.subject_user_id,
    row.client_id,
    row.purpose,
    row.consent_id,
    row.fields_read,
    row.fields_denied,
    row.decision,
    row.reason,
    row.request_id,
    sortKeys(row.detail),
    row.chain_key,
    row.chain_seq,
    Buffer.from(row.prev_hash).toString('hex'),
  ]);
}
