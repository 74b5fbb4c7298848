import { sql, type Selectable } from 'kysely';
import type { AuditEventsTable } from '../db/audit-tables.js';
import type { Db } from '../db/connect.js';
import { BadUserInputError } from '../shared/errors.js';
import { isStorableInstant, STORABLE_INSTANT_MESSAGE } from '../shared/input.js';
import { decodeCursor, encodeCursor, pageSize, toConnection, type ConnectionShape } from '../shared/pagination.js';
import { AUDIT_ACTIONS, type AuditAction, type AuditActor, type AuditDecision } from './audit.actions.js';
import { AUDIT_CONTENT_COLUMNS } from './audit.hash.js';

/** An audit event as the domain sees it; the fields of API.md's `AuditEvent`, plus `detail`. */
export interface AuditEvent {
  readonly id: string;
  readonly occurredAt: Date;
  readonly action: AuditAction;
  readonly actor: AuditActor;
  readonly actorChain: readonly string[];
  readonly subjectUserId: string | null;
  readonly clientId: string | null;
  readonly purpose: string | null;
  readonly consentId: string | null;
  readonly fieldsRead: readonly string[];
  readonly fieldsDenied: readonly string[];
  readonly decision: AuditDecision;
  readonly reason: string | null;
  readonly requestId: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** The one mapping from an `audit_events` row to an AuditEvent. */
export function toAuditEvent(row: Omit<Selectable<AuditEventsTable>, 'chain_key' | 'chain_seq' | 'prev_hash' | 'hash'>): AuditEvent {
  return {
    id: row.id,
    occurredAt: row.occurred_at,
    action: row.action as AuditAction,
    actor: { kind: row.actor_kind, id: row.actor_id },
    actorChain: row.actor_chain,
    subjectUserId: row.subject_user_id,
    clientId: row.client_id,
    purpose: row.purpose,
    consentId: row.consent_id,
    fieldsRead: row.fields_read,
    fieldsDenied: row.fields_denied,
    decision: row.decision === 'allow' ? 'ALLOW' : 'DENY',
    reason: row.reason,
    requestId: row.request_id,
    detail: row.detail,
  };
}

/**
 * Creates the monthly partitions for the month of `at` and the next, if missing; resolves to the
 * names of those created. Run it outside any other transaction: creating a partition locks the table.
 * @throws the database's lock_timeout error (55P03) when a long reader holds the table for over 2 s.
 */
export async function ensureAuditPartitions(db: Db, at: Date): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select audit_ensure_partitions(${at}::timestamptz) as name`.execute(db);
  return rows.map((row) => row.name);
}

/** Filters of API.md's `AuditFilter`; every one given must hold. */
export interface AuditFilter {
  /** Events about this user. */
  readonly userId?: string | null;
  /** Events where this agent acted, directly or anywhere in the actor chain. */
  readonly agentId?: string | null;
  readonly action?: string | null;
  readonly decision?: AuditDecision | null;
  /** Inclusive. */
  readonly from?: Date | null;
  /** Exclusive. */
  readonly to?: Date | null;
}

/** A Relay connection page; `totalCount` is left out, as counting the trail is not cheap. */
export type AuditEventPage = ConnectionShape<AuditEvent>;

/**
 * Audit events matching every given filter, newest first, as a Relay page. Keyset-paginated on
 * (occurred_at, id), so pages neither repeat nor skip events however many are appended meanwhile.
 * @throws BadUserInputError for a `first` outside the page limits, a cursor this function did not
 * make, a `from` or `to` outside the years 1 to 9999, a `to` not later than `from`, or an `action`
 * that is none of AUDIT_ACTIONS: a filter that can match nothing is a mistake to name, not an
 * empty page.
 */
export async function listAuditEvents(
  db: Db,
  { filter = {}, first = 20, after }: { filter?: AuditFilter; first?: number | null; after?: string | null },
): Promise<AuditEventPage> {
  const limit = pageSize(first);
  const key = after == null ? undefined : decodeCursor(after, ['date', 'string'], 'auditEvents');
  const cursor = key && { at: key[0], id: key[1] };
  const { userId, agentId, action, decision } = filter;
  const from = filterInstant(filter.from, 'from');
  const to = filterInstant(filter.to, 'to');
  if (from != null && to != null && to <= from) throw new BadUserInputError('filter.to', 'must be later than from');
  if (action != null && !(AUDIT_ACTIONS as readonly string[]).includes(action)) throw new BadUserInputError('filter.action', `must be one of ${AUDIT_ACTIONS.join(', ')}`);

  let query = db.selectFrom('audit_events').select(AUDIT_CONTENT_COLUMNS);
  if (userId != null) query = query.where('subject_user_id', '=', userId);
  if (agentId != null) {
    query = query.where((eb) => eb.or([eb('actor_chain', '@>', sql<string[]>`array[${agentId}::text]`), eb('actor_id', '=', agentId)]));
  }
  if (action != null) query = query.where('action', '=', action);
  if (decision != null) query = query.where('decision', '=', decision === 'ALLOW' ? 'allow' : 'deny');
  if (from != null) query = query.where('occurred_at', '>=', from);
  if (to != null) query = query.where('occurred_at', '<', to);
  if (cursor) query = query.where((eb) => eb(eb.refTuple('occurred_at', 'id'), '<', eb.tuple(cursor.at, cursor.id)));

  const rows = await query.orderBy('occurred_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  return toConnection(rows, limit, (row) => encodeCursor([row.occurred_at.toISOString(), row.id], 'auditEvents'), toAuditEvent);
}

/** A time filter both databases read alike (`isStorableInstant`). */
function filterInstant(at: Date | null | undefined, key: 'from' | 'to'): Date | null {
  if (at == null) return null;
  if (!isStorableInstant(at)) throw new BadUserInputError(`filter.${key}`, STORABLE_INSTANT_MESSAGE);
  return at;
}

