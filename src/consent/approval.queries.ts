import { sql, type Selectable } from 'kysely';
import type { ApprovalsTable, ApprovalStatusColumn } from '../db/database.js';
import type { Db } from '../db/connect.js';
import type { AuthorizationDetail } from './approval.details.js';

/** An approval as the domain sees it; `status` as stored (see `approvalState` for expiry). */
export interface Approval {
  readonly id: string;
  readonly userId: string;
  /** The agent that asked: the nearest actor of its delegated token. */
  readonly agentId: string;
  /** The consent the asking token was issued under; a use must come under the same one. */
  readonly consentId: string | null;
  readonly authorizationDetails: AuthorizationDetail;
  readonly status: ApprovalStatusColumn;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly decidedAt: Date | null;
  readonly usedAt: Date | null;
}

/** The one mapping from an `approvals` row to an Approval. */
function toApproval(row: Selectable<ApprovalsTable>): Approval {
  return {
    id: row.id,
    userId: row.user_id,
    agentId: row.agent_id,
    consentId: row.consent_id,
    authorizationDetails: row.authorization_details as unknown as AuthorizationDetail,
    status: row.status,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
    usedAt: row.used_at,
  };
}

/** An approval with its user's entry key, as the statement that changed the approval read it. */
export interface KeyedApproval {
  readonly approval: Approval;
  /** Null for an approval asked for before entry keys existed, whose user may have none yet. */
  readonly entryHmacKey: Uint8Array | null;
}

function toKeyedApproval(row: Selectable<ApprovalsTable> & { entry_hmac_key: Uint8Array | null }): KeyedApproval {
  return { approval: toApproval(row), entryHmacKey: row.entry_hmac_key };
}

export type NewApproval = Pick<Approval, 'id' | 'userId' | 'agentId' | 'consentId' | 'authorizationDetails' | 'createdAt' | 'expiresAt'>;

export async function insertApproval(db: Db, approval: NewApproval): Promise<Approval> {
  const row = await db
    .insertInto('approvals')
    .values({
      id: approval.id,
      user_id: approval.userId,
      agent_id: approval.agentId,
      consent_id: approval.consentId,
      authorization_details: JSON.stringify(approval.authorizationDetails),
      created_at: approval.createdAt,
      expires_at: approval.expiresAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toApproval(row);
}

export async function findApprovalsByIds(db: Db, ids: readonly string[]): Promise<Approval[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('approvals').selectAll().where('id', 'in', ids).execute();
  return rows.map(toApproval);
}

/**
 * The user's entry key if they are active, with their row locked as an erasure locks it
 * (`for no key update`) until the transaction ends: undefined for a user who is not active. Two
 * requests for approval of one user take turns, and one racing an erasure either commits first or
 * waits for it and then finds the user erased: a locking read is checked again against the row
 * the erasure committed.
 */
export async function lockActiveUserForApproval(db: Db, userId: string): Promise<{ entryHmacKey: Uint8Array | null } | undefined> {
  const row = await db.selectFrom('users').select('entry_hmac_key').where('id', '=', userId).where('status', '=', 'active').forNoKeyUpdate().executeTakeFirst();
  return row && { entryHmacKey: row.entry_hmac_key };
}

/** The user's entry key; null until one is created, and for an erased or unknown user. */
export async function findEntryHmacKey(db: Db, userId: string): Promise<Uint8Array | null> {
  const row = await db.selectFrom('users').select('entry_hmac_key').where('id', '=', userId).executeTakeFirst();
  return row?.entry_hmac_key ?? null;
}

/**
 * The user's entry key, `candidate` (32 random bytes) becoming it if they have none: set only while
 * still null, and read back in the same UPDATE. Of two transactions creating it at once, the second
 * waits for the first's row lock and, once that commits, PostgreSQL evaluates the UPDATE again on
 * the committed row, so both go on with the one key stored. Undefined for an erased or unknown user,
 * who never gets a key again.
 */
export async function createEntryHmacKey(db: Db, userId: string, candidate: Buffer): Promise<Uint8Array | undefined> {
  const row = await db
    .updateTable('users')
    .set((eb) => ({ entry_hmac_key: eb.fn.coalesce('entry_hmac_key', eb.val(candidate)) }))
    .where('id', '=', userId)
    .where('status', '!=', 'erased')
    .returning('entry_hmac_key')
    .executeTakeFirst();
  return row?.entry_hmac_key ?? undefined;
}

/**
 * Deletes up to `limit` approvals, of any user, that expired before `expiredBefore`, found by their
 * expiry (migration 0027). Rows another transaction holds are skipped, so this never waits.
 * Resolves to how many went.
 */
export async function deleteApprovalsExpiredBefore(db: Db, expiredBefore: Date, limit: number): Promise<number> {
  const result = await sql`delete from approvals where id in (
    select id from approvals where expires_at < ${expiredBefore} limit ${limit} for update skip locked)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** The approvals of this user and agent still waiting for an answer at `now`, oldest first. */
export async function findOpenApprovals(db: Db, userId: string, agentId: string, now: Date): Promise<Approval[]> {
  const rows = await db
    .selectFrom('approvals')
    .selectAll()
    .where('user_id', '=', userId)
    .where('agent_id', '=', agentId)
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .orderBy('expires_at')
    .execute();
  return rows.map(toApproval);
}

/**
 * Records the user's answer to a pending approval, if it is still pending and unexpired at
 * `now`; resolves to the answered approval with its user's entry key, or undefined when there was
 * nothing to answer.
 */
export async function answerApproval(db: Db, id: string, userId: string, answer: 'approved' | 'denied', now: Date): Promise<KeyedApproval | undefined> {
  const row = await db
    .updateTable('approvals')
    .set({ status: answer, decided_at: now })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .returningAll('approvals')
    .returning((eb) => eb.selectFrom('users').select('users.entry_hmac_key').whereRef('users.id', '=', 'approvals.user_id').as('entry_hmac_key'))
    .executeTakeFirst();
  return row && toKeyedApproval(row);
}

/**
 * Ends, at `now`, every approval of the user that was approved and not used yet: each is EXPIRED
 * from then on (`expires_at` moved to `now`), so no use can find it. Resolves to how many.
 */
export async function expireApprovedApprovalsOfUser(db: Db, userId: string, now: Date): Promise<number> {
  const result = await db
    .updateTable('approvals')
    .set({ expires_at: now })
    .where('user_id', '=', userId)
    .where('status', '=', 'approved')
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Whose approval, and for exactly what, a use looks for. */
export interface ApprovalUse {
  readonly userId: string;
  readonly agentId: string;
  readonly consentId: string;
  readonly detail: AuthorizationDetail;
}

/**
 * Uses one approval, in one UPDATE: of this user, agent and consent, approved, never used,
 * unexpired at `now`, for an equal `authorization_details` entry (jsonb equality: the same keys
 * and values). Of two uses racing for it, one gets it and the other skips the locked row and
 * finds nothing. Resolves to the approval used, with its user's entry key, or undefined. The
 * caller holds, and has checked, the consent and the agents the use stands on first (`holdGrant`
 * in approval.payment.service.ts).
 */
export async function useApproval(db: Db, use: ApprovalUse, now: Date): Promise<KeyedApproval | undefined> {
  const detail = JSON.stringify(use.detail);
  const { rows } = await sql<Selectable<ApprovalsTable> & { entry_hmac_key: Uint8Array | null }>`
    update approvals set status = 'used', used_at = ${now}
    where id = (
        select id from approvals
        where user_id = ${use.userId} and agent_id = ${use.agentId} and consent_id = ${use.consentId}
          and status = 'approved' and used_at is null and expires_at > ${now}
          and authorization_details = ${detail}::jsonb
        order by created_at, id
        limit 1
        for update skip locked)
      and status = 'approved' and used_at is null and expires_at > ${now}
    returning *, (select entry_hmac_key from users where users.id = approvals.user_id) as entry_hmac_key`.execute(db);
  return rows[0] && toKeyedApproval(rows[0]);
}

/** Which approvals a list shows, by their state at the time of the read. */
export type ApprovalStateFilter = 'PENDING' | 'APPROVED' | 'DENIED' | 'USED' | 'EXPIRED';

/** Up to `limit` approvals of each user, newest first, in one statement for all the users. */
export async function findApprovalsOfUsers(db: Db, userIds: readonly string[], options: { limit: number; state?: ApprovalStateFilter; now: Date }): Promise<Approval[]> {
  if (userIds.length === 0 || options.limit === 0) return [];
  const filter = options.state ? stateCondition(options.state, options.now) : sql`true`;
  const { rows } = await sql<Selectable<ApprovalsTable>>`
    select id, user_id, agent_id, consent_id, authorization_details, status, created_at, expires_at, decided_at, used_at
    from (
      select a.*, row_number() over (partition by user_id order by created_at desc, id desc) as rank
      from approvals a
      where user_id = any(${[...userIds]}::text[]) and ${filter}
    ) ranked
    where rank <= ${options.limit}
    order by created_at desc, id desc`.execute(db);
  return rows.map(toApproval);
}

/** The condition of a state, as `approvalState` computes it, at `now`. */
function stateCondition(state: ApprovalStateFilter, now: Date) {
  switch (state) {
    case 'PENDING':
      return sql`status = 'pending' and expires_at > ${now}`;
    case 'APPROVED':
      return sql`status = 'approved' and expires_at > ${now}`;
    case 'EXPIRED':
      return sql`status in ('pending', 'approved') and expires_at <= ${now}`;
    case 'DENIED':
      return sql`status = 'denied'`;
    case 'USED':
      return sql`status = 'used'`;
  }
}
