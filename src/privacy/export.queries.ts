import { toAgent, type Agent } from '../agents/agent.queries.js';
import { toConsent, type Consent } from '../consent/consent.queries.js';
import type { Db } from '../db/connect.js';
import { toUser, type User } from '../identity/user.queries.js';

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
