import { sql } from 'kysely';
import type { AuditEventInput } from '../../src/audit/audit.actions.js';
import type { Db } from '../../src/db/connect.js';

/** A delegated profile read by agt_child (acting for agt_parent) for `usr_alice`; override as needed. */
export function readEvent(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    action: 'profile.read',
    actor: { kind: 'delegated', id: 'agt_child' },
    actorChain: ['agt_child', 'agt_parent'],
    subjectUserId: 'usr_alice',
    clientId: 'agt_child',
    purpose: 'support',
    consentId: 'cns_1',
    fieldsRead: ['email', 'orders'],
    fieldsDenied: ['phone'],
    decision: 'ALLOW',
    requestId: 'req-1',
    detail: { operation: 'Profile', nested: { b: 1, a: [true, null] } },
    ...overrides,
  };
}

export async function countEvents(db: Db): Promise<number> {
  const row = await db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function chainOf(db: Db, chainKey: string) {
  return db.selectFrom('audit_events').select(['id', 'chain_seq', 'prev_hash', 'hash']).where('chain_key', '=', chainKey).orderBy('chain_seq').execute();
}

export async function headOf(db: Db, chainKey: string) {
  return db.selectFrom('audit_chain_heads').selectAll().where('chain_key', '=', chainKey).executeTakeFirst();
}

export async function partitionOf(db: Db, id: string): Promise<string> {
  const { rows } = await sql<{ part: string }>`select tableoid::regclass::text as part from audit_events where id = ${id}`.execute(db);
  return rows[0]!.part;
}
