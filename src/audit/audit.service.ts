import type { Principal } from '../authz/principal.js';
import type { Db } from '../db/connect.js';
import { actorFromPrincipal, type AuditEventInput } from './audit.actions.js';
import { appendAuditEvents } from './audit.append.js';
import { listAuditEvents, type AuditEventPage, type AuditFilter } from './audit.queries.js';

export { SYSTEM_ACTOR } from './audit.actions.js';
export { AuditWriter } from './audit.writer.js';
export type { AuditEventInput } from './audit.actions.js';
export { toAuditEvent, type AuditEvent, type AuditFilter } from './audit.queries.js';

/**
 * Records events of a state change inside the change's own transaction, so an event exists
 * exactly when the change committed. Events of several users go in one call: the chain heads
 * are then locked in one order.
 */
export async function auditInTransaction(tx: Db, events: AuditEventInput | readonly AuditEventInput[], now: Date): Promise<void> {
  await appendAuditEvents(tx, Array.isArray(events) ? events : [events as AuditEventInput], now);
}

/** The parts of an event that follow from who is calling and which request it is. */
export function auditCaller(principal: Principal, requestId: string | null) {
  return { ...actorFromPrincipal(principal), requestId };
}

/** A page of events, newest first. */
export function findAuditEvents(db: Db, options: { filter?: AuditFilter; first?: number; after?: string }): Promise<AuditEventPage> {
  return listAuditEvents(db, options);
}
