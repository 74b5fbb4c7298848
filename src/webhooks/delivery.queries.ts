import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { pastOnEveryClock } from '../shared/clock.js';
import { webhookDb, type DeliveryStatusColumn, type DeliveryTriggerColumn } from './webhook.tables.js';

/** Why a delivery of an event type its subscription dropped ended without an attempt. */
const NO_LONGER_TAKEN = 'the subscription no longer takes this event type';

/** A delivery a worker holds under its lease, with all it needs to send it. */
export interface ClaimedDelivery {
  readonly subscriptionId: string;
  readonly messageId: string;
  /** The number of this attempt in the current round, from 1. */
  readonly attempt: number;
  readonly trigger: DeliveryTriggerColumn;
  /** When a previous worker's lease on it lapsed (that worker stopped mid-delivery); null for none. */
  readonly lapsedLeaseUntil: Date | null;
  readonly url: string;
  readonly body: string;
  readonly secretSealed: Uint8Array;
  readonly previousSecretSealed: Uint8Array | null;
  readonly previousSecretExpiresAt: Date | null;
}

/**
 * Claims up to `limit` deliveries that are due at `now` and that no live lease holds, for
 * subscriptions that are enabled, oldest first: each gets this worker's lease (`token`, until
 * `leaseUntil`) and its attempt counted. No subscription gets more than `perSubscription` in
 * flight, counting those this worker has already (`inFlight`, by subscription id), so one
 * subscription's backlog cannot take every slot; and only the first few due of each enabled
 * subscription are read (webhook_deliveries_subscription_due), so no backlog, of a disabled
 * subscription or a receiver down for a day, slows a claim. SKIP LOCKED lets workers on other
 * instances claim other rows at the same time; the lease keeps a claimed row from every other
 * worker until it lapses on every instance's clock (CLOCK_SKEW_MS past `lease_until` by this
 * worker's): a worker whose clock is ahead of the claimant's would otherwise take over, and send
 * again, a delivery still under way. Candidates are picked without locks (a limit per subscription cannot
 * lock), so the due conditions are checked again on each row as it is locked: one another worker
 * claimed meanwhile is skipped.
 */
export async function claimDueDeliveries(
  db: Db,
  options: { now: Date; leaseUntil: Date; token: string; limit: number; perSubscription: number; inFlight: ReadonlyMap<string, number> },
): Promise<ClaimedDelivery[]> {
  const { now, leaseUntil, token, limit, perSubscription, inFlight } = options;
  const due = sql`d.status = 'pending' and d.next_attempt_at <= ${now} and (d.lease_until is null or d.lease_until <= ${pastOnEveryClock(now)})`;
  // Read as the row is locked: an event its producer enqueued from a reading of the subscription
  // that an update dropping its type overtook is ended here, never sent.
  const wanted = sql`(m.event_type = any(s.event_types))`;
  const { rows } = await sql<{
    subscription_id: string;
    message_id: string;
    attempt_count: number;
    trigger: DeliveryTriggerColumn;
    previous_lease: Date | null;
    url: string;
    body: string;
    secret_sealed: Uint8Array;
    previous_secret_sealed: Uint8Array | null;
    previous_secret_expires_at: Date | null;
    wanted: boolean;
  }>`
    with busy as (
      select * from unnest(${[...inFlight.keys()]}::text[], ${[...inFlight.values()]}::int[]) as busy(subscription_id, attempts)
    ), candidates as (
      select c.subscription_id, c.message_id, c.next_attempt_at
      from webhook_subscriptions s
      left join busy on busy.subscription_id = s.id
      cross join lateral (
        select d.subscription_id, d.message_id, d.next_attempt_at, row_number() over (order by d.next_attempt_at, d.message_id) as place
        from webhook_deliveries d
        where d.subscription_id = s.id and ${due}
        order by d.next_attempt_at, d.message_id
        -- A literal, so the planner knows how few rows each subscription gives.
        limit ${sql.lit(perSubscription)}
      ) c
      where s.status = 'enabled' and coalesce(busy.attempts, 0) + c.place <= ${perSubscription}
    ), claimable as (
      select d.subscription_id, d.message_id, d.lease_until as previous_lease
      from candidates r
      join webhook_deliveries d on d.subscription_id = r.subscription_id and d.message_id = r.message_id
      where ${due}
      order by r.next_attempt_at
      limit ${limit}
      for update of d skip locked
    )
    update webhook_deliveries d
    set lease_until = case when ${wanted} then ${leaseUntil}::timestamptz end,
      lease_token = case when ${wanted} then ${token} end,
      attempt_count = d.attempt_count + case when ${wanted} then 1 else 0 end,
      status = case when ${wanted} then d.status else 'failed' end,
      next_attempt_at = case when ${wanted} then d.next_attempt_at end,
      last_error = case when ${wanted} then d.last_error else ${NO_LONGER_TAKEN} end
    from claimable, webhook_messages m, webhook_subscriptions s
    where d.subscription_id = claimable.subscription_id and d.message_id = claimable.message_id and m.id = d.message_id and s.id = d.subscription_id
    returning d.subscription_id, d.message_id, d.attempt_count, d.trigger, claimable.previous_lease, m.body, s.url,
      s.secret_sealed, s.previous_secret_sealed, s.previous_secret_expires_at, ${wanted} as wanted`.execute(db);
  return rows.filter((row) => row.wanted).map((row) => ({
    subscriptionId: row.subscription_id,
    messageId: row.message_id,
    attempt: row.attempt_count,
    trigger: row.trigger,
    lapsedLeaseUntil: row.previous_lease,
    url: row.url,
    body: row.body,
    secretSealed: row.secret_sealed,
    previousSecretSealed: row.previous_secret_sealed,
    previousSecretExpiresAt: row.previous_secret_expires_at,
  }));
}

/** One attempt's entry in the log, and what it leaves the delivery as. */
export interface AttemptRecord {
  readonly subscriptionId: string;
  readonly messageId: string;
  readonly attempt: number;
  readonly trigger: DeliveryTriggerColumn;
  readonly attemptedAt: Date;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
  /** Pending with the next attempt's time, or ended as succeeded or failed. */
  readonly next: { readonly status: 'pending'; readonly at: Date } | { readonly status: Exclude<DeliveryStatusColumn, 'pending'> };
}

/**
 * Logs an attempt and moves its delivery on, releasing it, while this worker's lease still holds
 * the delivery. Resolves to false, changing nothing, when the lease was lost: it lapsed and
 * another worker took the delivery over (and logged this attempt as abandoned), or an operator
 * started a new round.
 */
export async function recordAttempt(tx: Db, record: AttemptRecord, token: string): Promise<boolean> {
  const next = record.next.status === 'pending' ? record.next.at : null;
  const updated = await webhookDb(tx)
    .updateTable('webhook_deliveries')
    .set({
      status: record.next.status,
      next_attempt_at: next,
      lease_until: null,
      lease_token: null,
      last_attempt_at: record.attemptedAt,
      last_status_code: record.statusCode,
      last_error: record.error?.slice(0, 500) ?? null,
      ...(record.next.status === 'succeeded' && { delivered_at: record.attemptedAt }),
    })
    .where('subscription_id', '=', record.subscriptionId)
    .where('message_id', '=', record.messageId)
    .where('lease_token', '=', token)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return false;
  await logAttempts(tx, [{ ...record, nextAttemptAt: next }]);
  return true;
}

/** Appends entries to the attempt log. */
export async function logAttempts(db: Db, entries: readonly (Omit<AttemptRecord, 'next'> & { nextAttemptAt: Date | null })[]): Promise<void> {
  if (entries.length === 0) return;
  await webhookDb(db)
    .insertInto('webhook_attempts')
    .values(
      entries.map((entry) => ({
        subscription_id: entry.subscriptionId,
        message_id: entry.messageId,
        attempt_no: entry.attempt,
        trigger: entry.trigger,
        attempted_at: entry.attemptedAt,
        status_code: entry.statusCode,
        error: entry.error?.slice(0, 500) ?? null,
        duration_ms: entry.durationMs,
        next_attempt_at: entry.nextAttemptAt,
      })),
    )
    .execute();
}

/**
 * Disables a subscription whose receiver answered 410 Gone, unless it is disabled already.
 * Resolves to true when this call disabled it.
 */
export async function disableGoneSubscription(tx: Db, subscriptionId: string, now: Date): Promise<boolean> {
  const updated = await webhookDb(tx)
    .updateTable('webhook_subscriptions')
    .set({ status: 'disabled', disabled_reason: 'gone', updated_at: now })
    .where('id', '=', subscriptionId)
    .where('status', '=', 'enabled')
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/**
 * Disables a subscription whose receiver has failed every attempt for `days`: enabled, unchanged
 * by an operator since before then (`updated_at`: a new URL or a re-enabling starts the count
 * again), nothing delivered since, and an attempt made before then that failed after the last
 * success, so a quiet receiver's days without events are no days of failure. Read from the log,
 * so attempts write nothing more for it: it costs one pass over the subscription's deliveries (the
 * primary key), paid only when a delivery fails its last attempt. Resolves to true when this call
 * disabled it.
 */
export async function disableFailingSubscription(tx: Db, subscriptionId: string, now: Date, days: number): Promise<boolean> {
  const since = new Date(now.getTime() - days * 86_400_000);
  // A delivery's attempts are looked up through a lateral LIMIT, and deliveries taken in primary
  // key order: as a plain EXISTS join the planner may scan a whole table hoping for an early match.
  const failedSinceThen = sql<boolean>`exists (
    select 1
    from (select coalesce(max(delivered_at), '-infinity') as at from webhook_deliveries where subscription_id = ${subscriptionId}) success
    where success.at <= ${since} and (
      select d.message_id
      from webhook_deliveries d
      cross join lateral (
        select 1 from webhook_attempts a
        where a.subscription_id = d.subscription_id and a.message_id = d.message_id and a.attempted_at > success.at and a.attempted_at <= ${since}
          and (a.status_code is null or a.status_code not between 200 and 299)
        limit 1
      ) failed
      where d.subscription_id = ${subscriptionId} and d.created_at <= ${since} and d.last_attempt_at > success.at
      order by d.message_id
      limit 1
    ) is not null)`;
  const updated = await webhookDb(tx)
    .updateTable('webhook_subscriptions')
    .set({ status: 'disabled', disabled_reason: 'failing', updated_at: now })
    .where('id', '=', subscriptionId)
    .where('status', '=', 'enabled')
    .where('updated_at', '<=', since)
    .where(failedSinceThen)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/**
 * Starts a new round of attempts for a delivery at `now`, as an operator asked: whatever its
 * state, it becomes pending and due, and any lease on it is void. Resolves to false when the
 * subscription has no delivery of this message.
 */
export async function restartDelivery(tx: Db, subscriptionId: string, messageId: string, now: Date): Promise<boolean> {
  // The message held first, as its retention's delete takes it: that delete skips it while this
  // transaction runs (rather than wait on the delivery row, and delete it once pending), or has
  // deleted it by the time this lock is granted, and no delivery is left to restart.
  await webhookDb(tx).selectFrom('webhook_messages').select('id').where('id', '=', messageId).forKeyShare().execute();
  const updated = await webhookDb(tx)
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', trigger: 'manual', attempt_count: 0, next_attempt_at: now, lease_until: null, lease_token: null })
    .where('subscription_id', '=', subscriptionId)
    .where('message_id', '=', messageId)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/**
 * Ends, as failed, the subscription's pending deliveries of messages whose event type is not in
 * `eventTypes` (what it takes now): the receiver asked for those no more. A lease on one is void,
 * as for an operator's new round: the attempt in flight is not logged. Resolves to how many ended.
 */
export async function endDeliveriesOfOtherTypes(tx: Db, subscriptionId: string, eventTypes: readonly string[]): Promise<number> {
  const updated = await webhookDb(tx)
    .updateTable('webhook_deliveries')
    .set({ status: 'failed', next_attempt_at: null, lease_until: null, lease_token: null, last_error: NO_LONGER_TAKEN })
    .where('subscription_id', '=', subscriptionId)
    .where('status', '=', 'pending')
    .where('message_id', 'in', (eb) => eb.selectFrom('webhook_messages').select('id').where(sql<boolean>`event_type <> all(${[...eventTypes]}::text[])`))
    .executeTakeFirst();
  return Number(updated.numUpdatedRows);
}

/**
 * Deletes up to `limit` messages created before `cutoff` with their deliveries and log, except
 * those with a delivery still pending; found by `webhook_messages_created`, the oldest first.
 * Messages another instance is deleting, or an operator is redelivering (`restartDelivery`), are
 * skipped, so neither waits on the other. Resolves to how many messages went.
 */
export async function deleteMessagesBefore(db: Db, cutoff: Date, limit: number): Promise<number> {
  const result = await webhookDb(db)
    .deleteFrom('webhook_messages')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('webhook_messages as m')
        .select('m.id')
        .where('m.created_at', '<', cutoff)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('webhook_deliveries as d').select('d.message_id').whereRef('d.message_id', '=', 'm.id').where('d.status', '=', 'pending'))),
        )
        .orderBy('m.created_at')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * The deliveries not yet ended (waiting for their first attempt or a retry, of every subscription,
 * enabled or not): one count over the partial index of pending deliveries (webhook_deliveries_due).
 */
export async function countPendingDeliveries(db: Db): Promise<number> {
  const row = await webhookDb(db)
    .selectFrom('webhook_deliveries')
    .where('status', '=', 'pending')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
