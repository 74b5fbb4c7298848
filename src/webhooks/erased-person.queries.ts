import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { ENDING_EVENT_TYPES } from './webhook-events.js';

// The outbox's messages about a person who was erased: what of them is never sent.

/** Why a delivery ended by `endDeliveriesAboutErasedUser` was not sent. */
const ABOUT_ERASED_PERSON = 'not sent: the person it is about was erased';

/**
 * The person a message is about, as its data names them (`userId`, or an agent's `ownerUserId`):
 * the expression migration 0024 indexes, written as it is there.
 */
const PERSON_OF_MESSAGE = sql<string | null>`coalesce(m.body::jsonb #>> '{data,userId}', m.body::jsonb #>> '{data,ownerUserId}')`;

/**
 * Ends, as failed, the pending deliveries of messages about the person but those of an end
 * (`ENDING_EVENT_TYPES`), in the erasure's transaction: a receiver that was down must not get their
 * `consent.given`, retried, after their `user.erased`, and build again what it deleted (GDPR
 * Art. 17(2), Art. 19). A lease on one is void. Resolves to how many ended.
 */
export async function endDeliveriesAboutErasedUser(tx: Db, userId: string): Promise<number> {
  const { numAffectedRows } = await sql`
    update webhook_deliveries d
    set status = 'failed', next_attempt_at = null, lease_until = null, lease_token = null, last_error = ${ABOUT_ERASED_PERSON}
    from webhook_messages m
    where d.message_id = m.id and d.status = 'pending' and m.event_type <> all(${ENDING_EVENT_TYPES}::text[]) and ${PERSON_OF_MESSAGE} = ${userId}`.execute(tx);
  return Number(numAffectedRows ?? 0);
}

/**
 * Whether the message is about a person since erased, and tells of no end (see
 * `endDeliveriesAboutErasedUser`), with the person's row locked FOR SHARE until the caller's
 * transaction ends: an erasure (which locks the row first) either committed before, and the
 * message is refused, or waits for the caller and then ends what it restarted.
 */
export async function isAboutErasedUser(tx: Db, messageId: string): Promise<boolean> {
  const { rows } = await sql<{ status: string }>`
    select u.status from webhook_messages m join users u on u.id = ${PERSON_OF_MESSAGE}
    where m.id = ${messageId} and m.event_type <> all(${ENDING_EVENT_TYPES}::text[])
    for share of u`.execute(tx);
  return rows[0]?.status === 'erased';
}
