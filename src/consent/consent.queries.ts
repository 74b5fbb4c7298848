import { sql, type Selectable } from 'kysely';
import type { ConsentsTable } from '../db/database.js';
import type { Db } from '../db/connect.js';

/** A consent as the domain sees it; `status` as stored (see `consentState` for expiry). */
export interface Consent {
  readonly id: string;
  readonly userId: string;
  readonly purpose: string;
  readonly agentId: string | null;
  readonly scopes: readonly string[];
  readonly status: 'active' | 'withdrawn' | 'expired';
  readonly givenAt: Date;
  readonly expiresAt: Date | null;
  readonly withdrawnAt: Date | null;
  readonly collectionMethod: string;
  readonly policyVersion: string;
  /** The signed receipt (compact JWS). */
  readonly receipt: string | null;
}

/** The one mapping from a `consents` row to a Consent. */
export function toConsent(row: Selectable<ConsentsTable>): Consent {
  return {
    id: row.id,
    userId: row.user_id,
    purpose: row.purpose,
    agentId: row.agent_id,
    scopes: row.scopes,
    status: row.status,
    givenAt: row.given_at,
    expiresAt: row.expires_at,
    withdrawnAt: row.withdrawn_at,
    collectionMethod: row.collection_method,
    policyVersion: row.policy_version,
    receipt: row.receipt,
  };
}

export type NewConsent = Omit<Consent, 'status' | 'withdrawnAt'>;

export async function insertConsent(db: Db, consent: NewConsent): Promise<Consent> {
  const row = await db
    .insertInto('consents')
    .values({
      id: consent.id,
      user_id: consent.userId,
      purpose: consent.purpose,
      agent_id: consent.agentId,
      scopes: [...consent.scopes],
      given_at: consent.givenAt,
      expires_at: consent.expiresAt,
      collection_method: consent.collectionMethod,
      policy_version: consent.policyVersion,
      receipt: consent.receipt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toConsent(row);
}

export interface ConsentEvent {
  readonly consentId: string;
  readonly userId: string;
  readonly kind: 'given' | 'withdrawn' | 'expired';
  readonly actor: { readonly kind: string; readonly id: string | null };
  readonly detail?: Record<string, unknown>;
  /** The signed receipt of a withdrawal, kept in `detail` (a `given` event's is the consent's own). */
  readonly receipt?: string | null;
  /** When it happened, if not when it is recorded (a lapse, at the consent's expiry). */
  readonly occurredAt?: Date;
}

/** Appends to the ledger's history; the database refuses to change or delete what is there. */
export async function insertConsentEvents(db: Db, events: readonly ConsentEvent[], at: Date): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('consent_events')
    .values(
      events.map((e) => ({
        consent_id: e.consentId,
        user_id: e.userId,
        kind: e.kind,
        occurred_at: e.occurredAt ?? at,
        actor_kind: e.actor.kind,
        actor_id: e.actor.id,
        detail: JSON.stringify(e.receipt ? { ...e.detail, receipt: e.receipt } : (e.detail ?? {})),
      })),
    )
    .execute();
}

export async function findConsentsByIds(db: Db, ids: readonly string[]): Promise<Consent[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('consents').selectAll().where('id', 'in', ids).execute();
  return rows.map(toConsent);
}

/** The latest time any consent of the user was given or withdrawn; undefined for a user who gave none. */
export async function findLatestConsentChange(db: Db, userId: string): Promise<Date | undefined> {
  const { rows } = await sql<{ at: Date | null }>`select max(greatest(given_at, withdrawn_at)) as at from consents where user_id = ${userId}`.execute(db);
  return rows[0]?.at ?? undefined;
}

/** Serializes consent changes of one user until the transaction ends. */
export async function lockUserConsents(db: Db, userId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`consents:${userId}`}))`.execute(db);
}

/**
 * The consent, locked FOR SHARE for the rest of the transaction: no withdrawal of it (an UPDATE
 * of the row) commits before the caller does. Undefined for an unknown id.
 */
export async function findConsentForShare(db: Db, id: string): Promise<Consent | undefined> {
  const row = await db.selectFrom('consents').selectAll().where('id', '=', id).forShare().executeTakeFirst();
  return row && toConsent(row);
}

/**
 * Sets `withdrawn` on those of `ids` still in force at `now`; resolves to the consents it changed.
 * One past its expiry lapsed there and then: it is never recorded as withdrawn afterwards (see
 * `markConsentsLapsed`). Withdrawn at `now`, or when it was given if that is later: an instance
 * whose clock is behind the one that recorded the consent must not end it before it began.
 */
export async function markConsentsWithdrawn(db: Db, ids: readonly string[], now: Date): Promise<Consent[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .updateTable('consents')
    .set({ status: 'withdrawn', withdrawn_at: sql<Date>`greatest(${now}::timestamptz, given_at)` })
    .where('id', 'in', ids)
    .where('status', '=', 'active')
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .returningAll()
    .execute();
  // In the order of `ids`, which the ledger events and audit events then follow.
  const at = new Map(ids.map((id, i) => [id, i]));
  return rows.sort((a, b) => at.get(a.id)! - at.get(b.id)!).map(toConsent);
}

/**
 * Sets `expired` on those of `ids` still `active` whose expiry has passed at `now` (so that a new
 * consent for the same purpose and grantee can take their place); resolves to those it changed.
 */
export async function markConsentsLapsed(db: Db, ids: readonly string[], now: Date): Promise<Consent[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .updateTable('consents')
    .set({ status: 'expired' })
    .where('id', 'in', ids)
    .where('status', '=', 'active')
    .where('expires_at', '<=', now)
    .returningAll()
    .execute();
  return rows.map(toConsent);
}

/**
 * Consents in the `active` state (expired ones included) matching the filter, locked for update:
 * FOR NO KEY UPDATE, as the UPDATE that withdraws them takes it (see `findAgentForUpdate`), so
 * that a refresh inserting the next token of one, while holding the token a withdrawal then
 * revokes, does not deadlock with it.
 */
export async function findActiveConsentsForUpdate(db: Db, filter: { userId?: string; agentId?: string; purpose?: string; companyOnly?: boolean }): Promise<Consent[]> {
  let query = db.selectFrom('consents').selectAll().where('status', '=', 'active');
  if (filter.userId) query = query.where('user_id', '=', filter.userId);
  if (filter.agentId) query = query.where('agent_id', '=', filter.agentId);
  if (filter.companyOnly) query = query.where('agent_id', 'is', null);
  if (filter.purpose) query = query.where('purpose', '=', filter.purpose);
  const rows = await query.orderBy('id').forNoKeyUpdate().execute();
  return rows.map(toConsent);
}

/** A ledger event as `Consent.history` shows it. */
export interface ConsentHistoryEntry {
  readonly consentId: string;
  readonly kind: 'given' | 'withdrawn' | 'expired';
  readonly occurredAt: Date;
  readonly actor: { readonly kind: string; readonly id: string | null };
  readonly detail: Record<string, unknown>;
  /** The signed receipt of a withdrawal; null for a `given` event, whose receipt is the consent's own, and for a withdrawal recorded without one. */
  readonly receipt: string | null;
}

/** The events of these consents, oldest first. */
export async function findConsentEvents(db: Db, consentIds: readonly string[]): Promise<ConsentHistoryEntry[]> {
  if (consentIds.length === 0) return [];
  const rows = await db.selectFrom('consent_events').selectAll().where('consent_id', 'in', consentIds).orderBy('id').execute();
  return rows.map((r) => {
    const { receipt, ...detail } = r.detail;
    return { consentId: r.consent_id, kind: r.kind, occurredAt: r.occurred_at, actor: { kind: r.actor_kind, id: r.actor_id }, detail, receipt: typeof receipt === 'string' ? receipt : null };
  });
}

/**
 * The newest `limit` consents of each user, newest first; with `connectedAt`, only their consents
 * to an agent in force at that instant. One statement: a lateral join walks consents_user
 * (user_id, given_at desc, id desc) once per user and stops at `limit`, so a user who gave
 * thousands costs no more than one who gave `limit`.
 */
export async function findConsentsOfUsers(db: Db, userIds: readonly string[], options: { limit: number; connectedAt?: Date }): Promise<Consent[]> {
  if (userIds.length === 0 || options.limit === 0) return [];
  const { connectedAt } = options;
  const { rows } = await sql<Selectable<ConsentsTable>>`
    select c.* from unnest(${[...userIds]}::text[]) as u(id)
    cross join lateral (
      select * from consents
      where user_id = u.id
        ${connectedAt ? sql`and agent_id is not null and status = 'active' and (expires_at is null or expires_at > ${connectedAt})` : sql``}
      order by given_at desc, id desc
      limit ${options.limit}
    ) as c`.execute(db);
  return rows.map(toConsent);
}
