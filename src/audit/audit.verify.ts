import type { Selectable } from 'kysely';
import type { AuditEventsTable } from '../db/audit-tables.js';
import type { Db } from '../db/connect.js';
import { HUB_CHAIN_KEY } from './audit.actions.js';
import { GENESIS_HASH, HASHED_AUDIT_COLUMNS, hashAuditRow } from './audit.hash.js';

/** The first link that does not hold, in (chain_key, chain_seq) order. */
export interface BrokenAuditLink {
  readonly chainKey: string;
  readonly seq: number;
  /** The event at fault; null when a chain head names events that do not exist. */
  readonly eventId: string | null;
  readonly problem: string;
}

export interface AuditVerification {
  readonly chains: number;
  readonly events: number;
  readonly broken: BrokenAuditLink | undefined;
}

export interface VerifyOptions {
  /** Called after each page of events with the counts so far. */
  readonly onProgress?: (progress: { chains: number; events: number }) => void;
  /** Events read per query; memory stays bounded by it whatever the size of the trail. */
  readonly pageSize?: number;
}

interface Link {
  chainKey: string;
  seq: number;
  hash: Buffer;
  eventId: string;
  occurredAt: Date;
}

/**
 * Walks every chain in (chain_key, chain_seq) order, page by page, and checks that each event's
 * hash matches its content, that it links to the previous event's hash (the genesis hash for
 * seq 1), that seqs run 1, 2, 3 ... without gap or repeat, that each event holds no column its
 * hash leaves out, that each event sits in its subject's chain, and that each chain head names the
 * chain's last event. Stops at the first broken link.
 *
 * Runs in one repeatable-read transaction (unless `db` already is one), so appends committed
 * while it walks are not mistaken for broken heads.
 */
export async function verifyAuditChains(db: Db, options: VerifyOptions = {}): Promise<AuditVerification> {
  if (!db.isTransaction) {
    return db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute((trx) => verifyAuditChains(trx, options));
  }
  const pageSize = options.pageSize ?? 1_000;
  let chains = 0;
  let events = 0;
  let last: Link | undefined;
  let finished: Link[] = [];

  for (;;) {
    // Keyed on the whole primary key, so a forged row that repeats another's id and seq at
    // another time is never skipped between two pages.
    let query = db.selectFrom('audit_events').selectAll();
    if (last) {
      const { chainKey, seq, eventId, occurredAt } = last;
      query = query.where((eb) => eb(eb.refTuple('chain_key', 'chain_seq', 'id', 'occurred_at'), '>', eb.tuple(chainKey, seq, eventId, occurredAt)));
    }
    const rows = await query.orderBy('chain_key').orderBy('chain_seq').orderBy('id').orderBy('occurred_at').limit(pageSize).execute();

    for (const row of rows) {
      const at = { chainKey: row.chain_key, seq: row.chain_seq, eventId: row.id };
      const continues = last?.chainKey === row.chain_key;
      if (!continues) {
        if (last) finished.push(last);
        chains += 1;
      }
      const previous = continues ? last! : undefined;
      const problem = linkProblem(row, previous);
      if (problem) return { chains, events, broken: (await headProblem(db, finished)) ?? { ...at, problem } };
      events += 1;
      last = { ...at, hash: Buffer.from(row.hash), occurredAt: row.occurred_at };
    }

    if (rows.length < pageSize) {
      if (last) finished.push(last);
      const broken = (await headProblem(db, finished)) ?? (await orphanHead(db, chains));
      return { chains, events, broken };
    }
    const broken = await headProblem(db, finished);
    if (broken) return { chains, events, broken };
    finished = [];
    options.onProgress?.({ chains, events });
  }
}

function linkProblem(row: Selectable<AuditEventsTable>, previous: Link | undefined): string | undefined {
  const expectedSeq = (previous?.seq ?? 0) + 1;
  if (row.chain_seq !== expectedSeq) {
    return previous && row.chain_seq === previous.seq ? `seq ${row.chain_seq} repeats` : `seq ${row.chain_seq} where ${expectedSeq} was expected`;
  }
  if (!Buffer.from(row.prev_hash).equals(previous?.hash ?? GENESIS_HASH)) {
    return previous ? 'prev_hash does not match the hash of the previous event' : 'the first event does not start from the genesis hash';
  }
  const unhashed = Object.keys(row).filter((column) => column !== 'hash' && !HASHED_AUDIT_COLUMNS.has(column));
  if (unhashed.length > 0) return `the event holds columns its hash does not cover: ${unhashed.join(', ')}`;
  if (!hashAuditRow(row).equals(Buffer.from(row.hash))) return 'hash does not match the content of the event';
  if (row.chain_key !== (row.subject_user_id ?? HUB_CHAIN_KEY)) return 'the event is in another chain than its subject';
  return undefined;
}

async function headProblem(db: Db, finished: readonly Link[]): Promise<BrokenAuditLink | undefined> {
  if (finished.length === 0) return undefined;
  const rows = await db
    .selectFrom('audit_chain_heads')
    .select(['chain_key', 'seq', 'hash'])
    .where('chain_key', 'in', finished.map((link) => link.chainKey))
    .execute();
  const heads = new Map(rows.map((head) => [head.chain_key, head]));
  for (const link of finished) {
    const head = heads.get(link.chainKey);
    const at = { chainKey: link.chainKey, seq: link.seq, eventId: link.eventId };
    if (!head) return { ...at, problem: 'the chain has no head' };
    if (head.seq !== link.seq) return { ...at, problem: `the chain head is at seq ${head.seq} but the last event is at seq ${link.seq}` };
    if (!Buffer.from(head.hash).equals(link.hash)) return { ...at, problem: 'the chain head hash does not match the last event' };
  }
  return undefined;
}

async function orphanHead(db: Db, chains: number): Promise<BrokenAuditLink | undefined> {
  const { count } = await db.selectFrom('audit_chain_heads').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
  if (Number(count) <= chains) return undefined;
  const head = await db
    .selectFrom('audit_chain_heads as h')
    .select(['h.chain_key', 'h.seq'])
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('audit_events as e').select('e.id').whereRef('e.chain_key', '=', 'h.chain_key'))))
    .orderBy('h.chain_key')
    .limit(1)
    .executeTakeFirst();
  return head && { chainKey: head.chain_key, seq: head.seq, eventId: null, problem: 'the chain head names events that do not exist' };
}
