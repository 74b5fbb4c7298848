import { toAgent, type Agent } from '../agents/agent.service.js';
import { AUDIT_CONTENT_COLUMNS } from '../audit/audit.hash.js';
import { toAuditEvent, type AuditEvent } from '../audit/audit.service.js';
import { toConsent, type Consent } from '../consent/consent.service.js';
import type { Db } from '../db/connect.js';
import { toUser, type User } from '../identity/identity.service.js';

// Reads for the export of one person's data, across the tables that hold it. Each list is read
// in keyset pages, so an export holds one page in memory whatever the person's history. Rows of
// tables with a domain mapping are returned through it.

/** Reads the page after `after` (the last row of the previous page; undefined for the first). */
export type PageReader<R> = (after: R | undefined, limit: number) => Promise<R[]>;

/** The person as stored, if not erased (a suspended person still has the right to their data). */
export async function findExportSubject(db: Db, userId: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', userId).where('status', '!=', 'erased').executeTakeFirst();
  return row && toUser(row);
}

/** Whether the user exists and is not erased: read again before each page of an export. */
export async function isExportSubject(db: Db, userId: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').where('id', '=', userId).where('status', '!=', 'erased').executeTakeFirst();
  return row !== undefined;
}

/** Orders, oldest first, keyed by (placed_at, id). */
export function ordersOf(db: Db, userId: string) {
  const reader = (after: { placed_at: Date; id: string } | undefined, limit: number) =>
    db
      .selectFrom('orders')
      .select(['id', 'placed_at', 'total_minor', 'currency', 'status', 'line_items'])
      .where('user_id', '=', userId)
      .$if(after !== undefined, (q) => q.where((eb) => eb(eb.refTuple('placed_at', 'id'), '>', eb.tuple(after!.placed_at, after!.id))))
      .orderBy('placed_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  return reader as PageReader<Awaited<ReturnType<typeof reader>>[number]>;
}

/** Payment methods as stored: masked (brand, last four digits, expiry), never a card number. */
export function paymentMethodsOf(db: Db, userId: string) {
  const reader = (after: { id: string } | undefined, limit: number) =>
    db
      .selectFrom('payment_methods')
      .select(['id', 'brand', 'last4', 'exp_month', 'exp_year', 'created_at'])
      .where('user_id', '=', userId)
      .$if(after !== undefined, (q) => q.where('id', '>', after!.id))
      .orderBy('id')
      .limit(limit)
      .execute();
  return reader as PageReader<Awaited<ReturnType<typeof reader>>[number]>;
}

/** Every consent the person gave, in id (creation) order, with its signed receipt. */
export function consentsOf(db: Db, userId: string): PageReader<Consent> {
  return async (after, limit) => {
    const rows = await db
      .selectFrom('consents')
      .selectAll()
      .where('user_id', '=', userId)
      .$if(after !== undefined, (q) => q.where('id', '>', after!.id))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toConsent);
  };
}

/**
 * Agents tied to the person: `connected`, those named by a consent of theirs in force at `now`
 * (as `User.connectedAgents`); `owned`, those they registered.
 */
export function agentsOf(db: Db, userId: string, tie: 'connected' | 'owned', now: Date): PageReader<Agent> {
  return async (after, limit) => {
    const rows = await db
      .selectFrom('agents as a')
      .selectAll('a')
      .$if(tie === 'owned', (q) => q.where('a.owner_user_id', '=', userId))
      .$if(tie === 'connected', (q) =>
        q.where(({ exists, selectFrom }) =>
          exists(
            selectFrom('consents as c')
              .select('c.id')
              .whereRef('c.agent_id', '=', 'a.id')
              .where('c.user_id', '=', userId)
              .where('c.status', '=', 'active')
              .where((eb) => eb.or([eb('c.expires_at', 'is', null), eb('c.expires_at', '>', now)])),
          ),
        ),
      )
      .$if(after !== undefined, (q) => q.where('a.id', '>', after!.id))
      .orderBy('a.id')
      .limit(limit)
      .execute();
    return rows.map(toAgent);
  };
}

/** Step-up approvals the person was asked for, in id (creation) order. */
export function approvalsOf(db: Db, userId: string) {
  const reader = (after: { id: string } | undefined, limit: number) =>
    db
      .selectFrom('approvals')
      .select(['id', 'agent_id', 'consent_id', 'authorization_details', 'status', 'created_at', 'expires_at', 'decided_at', 'used_at'])
      .where('user_id', '=', userId)
      .$if(after !== undefined, (q) => q.where('id', '>', after!.id))
      .orderBy('id')
      .limit(limit)
      .execute();
  return reader as PageReader<Awaited<ReturnType<typeof reader>>[number]>;
}

/**
 * The person's sessions: one per refresh-token family (a sign-in, or an agent's offline access
 * for them), in family-id order, with when it began, was last refreshed and ends, and when it was
 * revoked. A family keeps its client, scope, consent and sign-in time through every refresh; its
 * tokens, and their hashes, never leave the hub.
 */
export function sessionsOf(db: Db, userId: string) {
  const reader = (after: { family_id: string } | undefined, limit: number) =>
    db
      .selectFrom('refresh_tokens')
      .select((eb) => [
        'family_id',
        eb.fn.min('client_id').as('client_id'),
        eb.fn.min('scope').as('scope'),
        eb.fn.min('consent_id').as('consent_id'),
        eb.fn.min('actor_chain').as('actor_chain'),
        eb.fn.min('auth_time').as('auth_time'),
        eb.fn.min('created_at').as('started_at'),
        eb.fn.max('created_at').as('last_refreshed_at'),
        eb.fn.max('expires_at').as('expires_at'),
        eb.fn.max('revoked_at').as('revoked_at'),
      ])
      .where('user_id', '=', userId)
      .$if(after !== undefined, (q) => q.where('family_id', '>', after!.family_id))
      .groupBy('family_id')
      .orderBy('family_id')
      .limit(limit)
      .execute();
  return reader as PageReader<Awaited<ReturnType<typeof reader>>[number]>;
}

/**
 * What the person did that their access log does not hold: the audit events with them as the
 * acting user and another subject or none (a refused read of someone else's profile), newest
 * first, keyed by (occurred_at, id). Whole rows: the export shows one about another person only through
 * `actionRecord`, which withholds what is that person's.
 */
export function actionsOf(db: Db, userId: string): PageReader<AuditEvent> {
  return async (after, limit) => {
    const rows = await db
      .selectFrom('audit_events')
      .select(AUDIT_CONTENT_COLUMNS)
      .where('actor_kind', '=', 'user')
      .where('actor_id', '=', userId)
      .where((eb) => eb.or([eb('subject_user_id', 'is', null), eb('subject_user_id', '!=', userId)]))
      .$if(after !== undefined, (q) => q.where((eb) => eb(eb.refTuple('occurred_at', 'id'), '<', eb.tuple(after!.occurredAt, after!.id))))
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toAuditEvent);
  };
}
