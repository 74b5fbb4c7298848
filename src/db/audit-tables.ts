import type { ColumnType } from 'kysely';

/** Append-only: every column is insert-only, and the database refuses UPDATE, DELETE and TRUNCATE. */
export interface AuditEventsTable {
  id: ColumnType<string, string, never>;
  occurred_at: ColumnType<Date, Date | string, never>;
  action: ColumnType<string, string, never>;
  actor_kind: ColumnType<'user' | 'delegated' | 'client' | 'anonymous' | 'system', 'user' | 'delegated' | 'client' | 'anonymous' | 'system', never>;
  actor_id: ColumnType<string | null, string | null, never>;
  actor_chain: ColumnType<string[], string[], never>;
  subject_user_id: ColumnType<string | null, string | null, never>;
  client_id: ColumnType<string | null, string | null, never>;
  purpose: ColumnType<string | null, string | null, never>;
  consent_id: ColumnType<string | null, string | null, never>;
  fields_read: ColumnType<string[], string[], never>;
  fields_denied: ColumnType<string[], string[], never>;
  decision: ColumnType<'allow' | 'deny', 'allow' | 'deny', never>;
  reason: ColumnType<string | null, string | null, never>;
  request_id: ColumnType<string | null, string | null, never>;
  detail: ColumnType<Record<string, unknown>, string, never>;
  chain_key: ColumnType<string, string, never>;
  chain_seq: ColumnType<number, number, never>;
  /** A Buffer from `pg`, a Uint8Array from PGlite. */
  prev_hash: ColumnType<Uint8Array, Uint8Array, never>;
  hash: ColumnType<Uint8Array, Uint8Array, never>;
}

export interface AuditChainHeadsTable {
  chain_key: string;
  seq: number;
  hash: Uint8Array;
}
