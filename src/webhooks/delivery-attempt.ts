import { auditInTransaction, SYSTEM_ACTOR } from '../audit/audit.service.js';
import type { Db } from '../db/connect.js';
import type { Clock } from '../shared/clock.js';
import { disableFailingSubscription, disableGoneSubscription, recordAttempt, type AttemptRecord, type ClaimedDelivery } from './delivery.queries.js';
import { MAX_ATTEMPTS, nextAttemptAt, parseRetryAfter } from './retry-schedule.js';
import { findSubscriptionForUpdate } from './subscription.queries.js';
import { openWebhookSecret } from './webhook-secret.js';
import type { SendOutcome, WebhookSender } from './webhook-sender.js';
import { signedHeaders } from './webhook-signature.js';

export interface AttemptDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly kek: Buffer;
  readonly sender: WebhookSender;
  /** A number in [0, 1) for the retry jitter. */
  readonly random: () => number;
}

/**
 * How long a receiver may fail every attempt before the hub disables its subscription (as Svix
 * does): a delivery that fails its last attempt disables it once the failures began this long ago
 * and nothing was delivered since. Days without events count for nothing.
 */
export const FAILING_DAYS = 5;

/**
 * Makes one attempt of a claimed delivery: signs it with the subscription's secrets as of now,
 * sends it, and records the outcome under the claim's lease. A 2xx ends the delivery as
 * succeeded; 410 Gone from the subscription's URL ends it as failed and disables the
 * subscription; anything else (a 410 from a URL it was moved away from meanwhile too) schedules
 * the next attempt (honouring `Retry-After`) or, past the last one, fails it, and disables the
 * subscription too when its receiver has failed every attempt for `FAILING_DAYS`. Never throws
 * for a receiver's failure; rejects only when the database does, leaving the lease to lapse.
 * Resolves to why it disabled the subscription, or undefined when it did not.
 */
export async function attemptDelivery(deps: AttemptDeps, claimed: ClaimedDelivery, token: string): Promise<string | undefined> {
  const { clock } = deps;
  const attemptedAt = clock.now();
  const outcome = await send(deps, claimed, attemptedAt);
  const ended = clock.now();
  const code = outcome.statusCode;
  const record: Omit<AttemptRecord, 'next'> = {
    subscriptionId: claimed.subscriptionId,
    messageId: claimed.messageId,
    attempt: claimed.attempt,
    trigger: claimed.trigger,
    attemptedAt,
    statusCode: code,
    error: outcome.error ?? (code !== null && code >= 300 && code < 400 ? 'redirect not followed' : null),
    durationMs: outcome.durationMs,
  };
  const succeeded = code !== null && code >= 200 && code < 300;
  const mayDisable = code === 410 || (!succeeded && claimed.attempt >= MAX_ATTEMPTS);
  return deps.db.transaction().execute(async (tx) => {
    // An outcome that may disable the subscription locks it before the delivery, in the order a
    // change of the subscription takes the two: the other order deadlocks with an operator's update.
    const subscription = mayDisable ? await findSubscriptionForUpdate(tx, claimed.subscriptionId) : undefined;
    // 410 Gone speaks for the URL that answered it: when an operator moved the subscription to
    // another URL while the attempt was in flight, it is a failure like any other, retried at the
    // new URL.
    const gone = code === 410 && subscription?.url === claimed.url;
    const at = succeeded || gone ? undefined : nextAttemptAt(claimed.attempt, ended, parseRetryAfter(outcome.retryAfter, ended), deps.random);
    const next: AttemptRecord['next'] = succeeded ? { status: 'succeeded' } : at ? { status: 'pending', at } : { status: 'failed' };
    if (!(await recordAttempt(tx, { ...record, next }, token))) return undefined;
    const reason = await disableAfter(tx, claimed.subscriptionId, gone, next, ended);
    if (!reason) return undefined;
    await auditInTransaction(
      tx,
      {
        action: 'webhook.disabled',
        actor: SYSTEM_ACTOR,
        decision: 'ALLOW',
        reason,
        detail: { subscriptionId: claimed.subscriptionId, messageId: claimed.messageId },
      },
      ended,
    );
    return reason;
  });
}

/**
 * Disables the subscription when this outcome calls for it (410 Gone from its URL, or a last
 * attempt failed and every attempt has failed for `FAILING_DAYS`); resolves to why, or undefined
 * when it stays as it is.
 */
async function disableAfter(tx: Db, subscriptionId: string, gone: boolean, next: AttemptRecord['next'], now: Date): Promise<string | undefined> {
  if (gone) return (await disableGoneSubscription(tx, subscriptionId, now)) ? 'the receiver answered 410 Gone' : undefined;
  if (next.status !== 'failed') return undefined;
  return (await disableFailingSubscription(tx, subscriptionId, now, FAILING_DAYS)) ? `every attempt failed for ${FAILING_DAYS} days` : undefined;
}

/** Signs and sends; a secret that cannot be opened is a failed attempt, not a crash. */
async function send(deps: AttemptDeps, claimed: ClaimedDelivery, at: Date): Promise<SendOutcome> {
  let secrets: string[];
  try {
    secrets = [openWebhookSecret(deps.kek, claimed.subscriptionId, claimed.secretSealed)];
    if (claimed.previousSecretSealed && claimed.previousSecretExpiresAt && claimed.previousSecretExpiresAt > at) {
      secrets.push(openWebhookSecret(deps.kek, claimed.subscriptionId, claimed.previousSecretSealed));
    }
  } catch {
    return { statusCode: null, retryAfter: undefined, error: 'the signing secret cannot be decrypted with HUB_KEY_ENCRYPTION_KEY', durationMs: 0 };
  }
  return deps.sender.send({ url: claimed.url, headers: signedHeaders(claimed.messageId, at, claimed.body, secrets), body: claimed.body });
}
