import { sql } from 'kysely';
import type { AuditEventsTable } from '../db/audit-tables.js';
import type { Db } from '../db/connect.js';
import { PREPARED_MARKER } from '../db/prepared.js';
import { chainKeyOf, prepareAuditEvent, type AuditEventInput, type PreparedAuditEvent } from './audit.actions.js';
import { CANONICAL_AUDIT_COLUMNS, canonicalAuditRow, GENESIS_HASH, hashCanonicalAuditRow } from './audit.hash.js';
import { toAuditEvent, type AuditEvent } from './audit.queries.js';

/**
 * Appends events to their subjects' hash chains (`hub` for events about no user) and returns them.
 *
 * Call it with the transaction of the change being audited, so the event exists exactly when the
 * change committed; given a plain Kysely instance it opens a transaction of its own. Each chain
 * head touched is locked until that transaction ends: appends for the same subject wait for one
 * another, appends for different subjects do not. One call locks its heads in sorted order, so
 * calls never deadlock on each other; a transaction that audits several subjects should therefore
 * append their events in one call. Events of one chain are linked in the order given.
 *
 * @param now the time of events that carry no `occurredAt`.
 * @throws TypeError for a malformed event (see `prepareAuditEvent`); nothing is written then.
 */
export async function appendAuditEvents(db: Db, events: readonly AuditEventInput[], now: Date): Promise<AuditEvent[]> {
  const rows = await appendRows(db, events.map((event) => prepareAuditEvent(event, now)));
  return rows.map(toAuditEvent);
}

/**
 * `appendAuditEvents` for events `prepareAuditEvent` made already (the buffered writer's), which
 * has no use for them back: they are not mapped again, a few per cent of a batch's time.
 */
export async function appendPreparedAuditEvents(db: Db, prepared: readonly PreparedAuditEvent[]): Promise<void> {
  await appendRows(db, prepared);
}

/** The rows `appendPrepared` stored, in the order of `prepared`. */
async function appendRows(db: Db, prepared: readonly PreparedAuditEvent[]): Promise<ContentRow[]> {
  if (prepared.length === 0) return [];
  return db.isTransaction ? appendPrepared(db, prepared) : db.transaction().execute((trx) => appendPrepared(trx, prepared));
}

/** Every stored column of `audit_events` with its type, as the insert of `appendPrepared` reads it. */
const STORED_COLUMN_TYPES = {
  id: 'text',
  occurred_at: 'timestamptz',
  action: 'text',
  actor_kind: 'text',
  actor_id: 'text',
  actor_chain: 'text[]',
  subject_user_id: 'text',
  client_id: 'text',
  purpose: 'text',
  consent_id: 'text',
  fields_read: 'text[]',
  fields_denied: 'text[]',
  decision: 'text',
  reason: 'text',
  request_id: 'text',
  detail: 'jsonb',
  chain_key: 'text',
  chain_seq: 'bigint',
  prev_hash: 'bytea',
  hash: 'bytea',
} as const satisfies Record<keyof AuditEventsTable, string>;
const STORED_COLUMNS = Object.keys(STORED_COLUMN_TYPES) as (keyof typeof STORED_COLUMN_TYPES)[];
const LIST_COLUMNS = STORED_COLUMNS.filter((column) => STORED_COLUMN_TYPES[column] === 'text[]');

/**
 * Where a column's value is in an event as `appendPrepared` sends it: the JSON array of
 * `canonicalAuditRow` (its format's name first), with the hash in hex added at its end.
 */
function sentAt(column: keyof AuditEventsTable): number {
  if (column === 'hash') return CANONICAL_AUDIT_COLUMNS.length + 1;
  const at = (CANONICAL_AUDIT_COLUMNS as readonly string[]).indexOf(column);
  // A column the hash does not cover would be stored from another's value: refused as the hub loads.
  if (at === -1) throw new Error(`audit_events.${column} is not among the columns the hash covers (CANONICAL_AUDIT_COLUMNS)`);
  return at + 1;
}

/** A column's value read from the sent event `e`; lists from `l`, as `jsonb_to_record` reads them. */
function storedFromSent(column: keyof AuditEventsTable): string {
  const at = sentAt(column);
  switch (STORED_COLUMN_TYPES[column]) {
    case 'text':
      return `e->>${at}`;
    case 'text[]':
      return `l.${column}`;
    case 'jsonb':
      return `e->${at}`;
    case 'bytea':
      return `decode(e->>${at}, 'hex')`;
    default:
      return `(e->>${at})::${STORED_COLUMN_TYPES[column]}`;
  }
}

/** The parts of the insert of `appendPrepared` that name the columns, built once. */
const EVENTS_FROM_SENT = {
  columns: sql.raw(STORED_COLUMNS.join(', ')),
  values: sql.raw(STORED_COLUMNS.map(storedFromSent).join(', ')),
  lists: sql.raw(`jsonb_build_object(${LIST_COLUMNS.map((column) => `'${column}', e->${sentAt(column)}`).join(', ')})`),
  listRecord: sql.raw(LIST_COLUMNS.map((column) => `${column} text[]`).join(', ')),
};

async function appendPrepared(db: Db, prepared: readonly PreparedAuditEvent[]): Promise<ContentRow[]> {
  const counts = new Map<string, number>();
  for (const event of prepared) counts.set(chainKeyOf(event), (counts.get(chainKeyOf(event)) ?? 0) + 1);
  const keys = [...counts.keys()].sort();

  // A new head starts at seq n with the genesis hash; an existing one moves n ahead and keeps its
  // hash until the new last hash is known: either way `seq - n` is the seq before this append.
  // Heads are locked in the order of `keys`.
  const { rows: heads } = await sql<{ chain_key: string; seq: number; hash: Buffer }>`${sql.raw(PREPARED_MARKER)}
    insert into audit_chain_heads (chain_key, seq, hash)
    select key, n, ${GENESIS_HASH}::bytea from unnest(${keys}::text[], ${keys.map((key) => counts.get(key)!)}::bigint[]) with ordinality as v (key, n, i)
    order by i
    on conflict (chain_key) do update set seq = audit_chain_heads.seq + excluded.seq
    returning chain_key, seq, hash`.execute(db);
  const links = new Map<string, { seq: number; hash: Buffer }>(
    heads.map((head) => [head.chain_key, { seq: head.seq - counts.get(head.chain_key)!, hash: Buffer.from(head.hash) }]),
  );

  // Each event is sent as the very text its hash covers, its array closed after the hash: serialized
  // once, and stored from what was hashed. One statement of fixed text whatever the number of events,
  // planned once per connection.
  const sent: string[] = [];
  const rows = prepared.map((event) => {
    const link = links.get(chainKeyOf(event))!;
    const content = toContentRow(event, chainKeyOf(event), link.seq + 1, link.hash);
    const canonical = canonicalAuditRow(content);
    const hash = hashCanonicalAuditRow(canonical);
    sent.push(`${canonical.slice(0, -1)},"${hash.toString('hex')}"]`);
    link.seq += 1;
    link.hash = hash;
    return content;
  });
  await sql`${sql.raw(PREPARED_MARKER)}
    insert into audit_events (${EVENTS_FROM_SENT.columns})
    select ${EVENTS_FROM_SENT.values}
    from jsonb_array_elements(${`[${sent.join(',')}]`}::jsonb) as e
    cross join lateral jsonb_to_record(${EVENTS_FROM_SENT.lists}) as l (${EVENTS_FROM_SENT.listRecord})`.execute(db);
  await sql`${sql.raw(PREPARED_MARKER)}
    update audit_chain_heads as h set hash = decode(v.hash, 'hex')
    from unnest(${keys}::text[], ${keys.map((key) => links.get(key)!.hash.toString('hex'))}::text[]) as v (chain_key, hash)
    where h.chain_key = v.chain_key`.execute(db);

  return rows;
}

type ContentRow = ReturnType<typeof toContentRow>;

function toContentRow(event: PreparedAuditEvent, chainKey: string, seq: number, prevHash: Buffer) {
  return {
    id: event.id,
    occurred_at: event.occurredAt,
    action: event.action,
    actor_kind: event.actor.kind,
    actor_id: event.actor.id,
    actor_chain: [...event.actorChain],
    subject_user_id: event.subjectUserId,
    client_id: event.clientId,
    purpose: event.purpose,
    consent_id: event.consentId,
    fields_read: [...event.fieldsRead],
    fields_denied: [...event.fieldsDenied],
    decision: event.decision === 'ALLOW' ? ('allow' as const) : ('deny' as const),
    reason: event.reason,
    request_id: event.requestId,
    detail: event.detail,
    chain_key: chainKey,
    chain_seq: seq,
    prev_hash: prevHash,
  };
}

/**
 * The ids of those of `events` already stored, matched on the primary key (id, occurred_at) so
 * only their months' partitions are searched. Lets a retried write leave out what an earlier
 * attempt committed without hearing back.
 */
export async function findWrittenAuditEventIds(db: Db, events: readonly PreparedAuditEvent[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = await db
    .selectFrom('audit_events')
    .select('id')
    .where((eb) => eb(eb.refTuple('id', 'occurred_at'), 'in', events.map((event) => eb.tuple(event.id, event.occurredAt))))
    .execute();
  return new Set(rows.map((row) => row.id));
}
