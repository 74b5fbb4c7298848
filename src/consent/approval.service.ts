import { randomBytes } from 'node:crypto';
import type { Services } from '../app.js';
import { auditCaller, auditInTransaction, type AuditEventInput } from '../audit/audit.service.js';
import type { Principal } from '../authz/principal.js';
import type { Caller } from '../identity/identity.service.js';
import type { Db } from '../db/connect.js';
import { BadUserInputError, NotFoundError, RateLimitedError, UnauthenticatedError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import type { Retention } from '../shared/housekeeping.js';
import { parseInput } from '../shared/input.js';
import { actionOf, authorizationDetailHmac, type ApprovalAction, type AuthorizationDetail, type MaskedCard } from './approval.details.js';
import { requestApprovalSchema } from './approval.input.js';
import { findConsentForShare } from './consent.queries.js';
import { consentState } from './consent.service.js';
import {
  answerApproval,
  createEntryHmacKey,
  deleteApprovalsExpiredBefore,
  expireApprovedApprovalsOfUser,
  findApprovalsByIds,
  findEntryHmacKey,
  findOpenApprovals,
  insertApproval,
  lockActiveUserForApproval,
  type Approval,
  type KeyedApproval,
} from './approval.queries.js';

export type { Approval } from './approval.queries.js';

/** What the approval functions need of the hub's services. */
export type ApprovalDeps = Pick<Services, 'db' | 'clock' | 'keys' | 'config' | 'identity' | 'agents'>;

/** A caller that is an agent acting for a user. */
export type DelegatedCaller = Caller & { readonly principal: Extract<Principal, { kind: 'delegated' }> };

/** @throws TypeError for any caller but an agent acting for a user: the fields' authScopes refuse them first. */
export function asAgent(caller: Caller): DelegatedCaller {
  if (caller.principal.kind !== 'delegated') throw new TypeError('payment actions are for an agent acting for a user');
  return caller as DelegatedCaller;
}

/** Most approvals one agent may have waiting for one user's answer at once. */
const MAX_OPEN_APPROVALS = 10;

/**
 * How long an approval is kept once it expired: answered, used or not, it can do nothing more, and
 * the audit trail keeps its record. Kept for ever, an agent asking again as each expires would add
 * thousands a day for each user it acts for.
 */
const APPROVAL_RETENTION_SECONDS = 30 * 24 * 3_600;

/** Approvals past their retention deleted per request: more than a request adds, so they never pile up. */
const FORGET_PER_REQUEST = 100;

/** Deletes up to `limit` approvals, of any user, that expired `APPROVAL_RETENTION_SECONDS` before `now`; resolves to how many. */
const forgetExpiredApprovals = (db: Db, now: Date, limit: number) => deleteApprovalsExpiredBefore(db, new Date(now.getTime() - APPROVAL_RETENTION_SECONDS * 1_000), limit);

/**
 * Approvals past their retention, for the hub's housekeeping: on an instance no agent asks
 * approvals of any more, they go all the same.
 */
export const approvalRetention = (db: Db): Retention => ({ name: 'approvals', forget: (now, limit) => forgetExpiredApprovals(db, now, limit) });

/** What an approval is now: answered, used, past its expiry, or waiting. */
export function approvalState(approval: Pick<Approval, 'status' | 'expiresAt'>, now: Date): 'PENDING' | 'APPROVED' | 'DENIED' | 'USED' | 'EXPIRED' {
  if (approval.status === 'used') return 'USED';
  if (approval.status === 'denied') return 'DENIED';
  if (approval.expiresAt <= now) return 'EXPIRED';
  return approval.status === 'approved' ? 'APPROVED' : 'PENDING';
}

/**
 * An agent asks its user to approve one payment action. Bound to the user, the asking agent and
 * the consent its token was issued under; it waits `expiresInSeconds` (bounded) for an answer
 * and, once approved, for its use.
 * @throws BadUserInputError naming the bad field, or for an addition to a user who holds
 *   MAX_PAYMENT_METHODS; RateLimitedError past MAX_OPEN_APPROVALS, audited as a refused request
 *   naming the entry; UnauthenticatedError when the
 *   user was erased or suspended since the token check.
 */
export async function requestApproval(deps: ApprovalDeps, input: unknown, anyCaller: Caller): Promise<Approval> {
  const caller = asAgent(anyCaller);
  const { detail, expiresInSeconds } = parseInput(requestApprovalSchema, input);
  const now = deps.clock.now();
  const { userId, consentId } = caller.principal;
  const agentId = caller.principal.actorChain[0]!;
  if (detail.type === 'payment_method') {
    assertCardCurrent(detail.instrument, now, 'input.paymentMethod');
    if (detail.identifier && !(await deps.identity.hasPaymentMethod(deps.db, userId, detail.identifier))) {
      throw new BadUserInputError('input.paymentMethodId', 'is not one of the user’s payment methods');
    }
    // The user is not asked to approve an addition that could not be made (checked again at its use).
    if (!detail.identifier) await deps.identity.assertRoomForPaymentMethod(deps.db, userId);
  }
  // A statement of its own, before the transaction: inside it, the rows it locks could deadlock with another's.
  await forgetExpiredApprovals(deps.db, now, FORGET_PER_REQUEST);
  const outcome = await deps.db.transaction().execute(async (tx) => {
    // The user's row first, as an erasure locks it: a request that waited for one stores nothing.
    const user = await lockActiveUserForApproval(tx, userId);
    if (!user) throw new UnauthenticatedError('The user is no longer active');
    // Locked and active, so created.
    const entryHmacKey = user.entryHmacKey ?? (await createEntryHmacKey(tx, userId, newEntryHmacKey()))!;
    const open = await findOpenApprovals(tx, userId, agentId, now);
    if (open.length >= MAX_OPEN_APPROVALS) {
      // A refusal like any other of a payment action, in the user's trail: this transaction, which
      // stores nothing else, commits it, so an agent pressing the user past the limit is seen.
      const refused: RefusedPaymentDetail = { ...auditedEntry(detail, entryHmacKey), step: 'request' };
      await auditInTransaction(tx, { action: 'payment.refused', ...auditCaller(caller.principal, caller.requestId), subjectUserId: userId, consentId, decision: 'DENY', reason: 'RATE_LIMITED', detail: refused }, now);
      return { retryAfterSeconds: Math.max(1, Math.ceil((open[0]!.expiresAt.getTime() - now.getTime()) / 1_000)) };
    }
    const approval = await insertApproval(tx, {
      id: newId('apr'),
      userId,
      agentId,
      consentId,
      authorizationDetails: detail,
      createdAt: now,
      expiresAt: new Date(now.getTime() + expiresInSeconds * 1_000),
    });
    await auditInTransaction(tx, auditOf('approval.requested', { approval, entryHmacKey }, caller, { expiresAt: approval.expiresAt.toISOString() }), now);
    return approval;
  });
  if ('retryAfterSeconds' in outcome) throw new RateLimitedError(outcome.retryAfterSeconds);
  return outcome;
}

/**
 * The user's answer to an approval that asks them, while it is pending and unexpired, the agent
 * that asked and its ancestors are active, and the consent it was asked under is in force: one
 * withdrawn (by the user, or by decommissioning its agent) or expired since can never be used, so
 * it is not answered either. Who may answer, and
 * how recently signed in, is decided before (`decideApprovalAnswer`); the event records when the
 * answering session's sign-in was (`authTime`, from its `auth_time`).
 * @throws NotFoundError for an approval of someone else; BadUserInputError once it was answered or
 *   expired, its agent is no longer active or its consent no longer in force.
 */
export async function answerApprovalRequest(deps: ApprovalDeps, id: string, decision: 'approved' | 'denied', caller: Caller): Promise<Approval> {
  const { principal } = caller;
  if (principal.kind !== 'user') throw new TypeError('only the user themself answers an approval');
  const now = deps.clock.now();
  return deps.db.transaction().execute(async (tx) => {
    const answered = await answerApproval(tx, id, principal.userId, decision, now);
    if (!answered) {
      const [approval] = await findApprovalsByIds(tx, [id]);
      if (approval?.userId !== principal.userId) throw new NotFoundError('Approval');
      throw new BadUserInputError('id', `is ${approvalState(approval, now)}; only a PENDING approval can be answered`);
    }
    // The asking agent's lineage, then the consent row, FOR SHARE after the approval's: a
    // decommissioning or withdrawal committed since is seen here (and rolls the answer back), one
    // committing now waits for the answer. A sub-agent asks under its parent's consent, which
    // outlives the sub-agent's decommissioning. Taken in this order, since no writer of an agent
    // or a consent waits for an approval row while holding it (an erasure deletes approvals
    // before it locks agents or withdraws consents; a use skips approval rows locked by others),
    // and a consent is changed after its agents are locked, never before.
    if (!(await deps.agents.findActiveAgentForShare(tx, answered.approval.agentId, now))) {
      throw new BadUserInputError('id', 'was asked by an agent that is no longer active; only an approval of an active agent can be answered');
    }
    const consent = answered.approval.consentId === null ? undefined : await findConsentForShare(tx, answered.approval.consentId);
    const consentNow = consent ? consentState(consent, now) : 'WITHDRAWN';
    if (consentNow !== 'ACTIVE') throw new BadUserInputError('id', `was asked under a consent that is ${consentNow}; only an approval under a consent in force can be answered`);
    await auditInTransaction(tx, auditOf('approval.answered', answered, caller, { answer: decision, authTime: principal.authTime?.toISOString() ?? null }), now);
    return answered.approval;
  });
}

/**
 * What a password change does to the user's approvals, in its transaction: one approved and not
 * used yet was given by a session the change ends, which may have been a thief's, so it ends with
 * it (EXPIRED) and the agent asks again; one still waiting is answered only with a sign-in after
 * it was asked for, now with the new password, and stays. Resolves to how many ended.
 */
export function endApprovalsOfSessions(tx: Db, userId: string, now: Date): Promise<number> {
  return expireApprovedApprovalsOfUser(tx, userId, now);
}

/** @throws BadUserInputError for a card past its expiry month at `now`. */
export function assertCardCurrent(card: MaskedCard, now: Date, path: string): void {
  const current = now.getUTCFullYear() * 12 + now.getUTCMonth() + 1;
  if (card.expYear * 12 + card.expMonth < current) throw new BadUserInputError(`${path}.expYear`, 'the card has expired');
}

/** A new entry key: 32 random bytes, the length of HMAC-SHA256's output, which RFC 2104 asks a key to reach. */
function newEntryHmacKey(): Buffer {
  return randomBytes(32);
}

/**
 * The user's entry key, created now (in `tx`, the transaction that writes the event needing it)
 * when they have none; null for an erased user, who never gets one again. One read, and a write
 * the first time.
 */
export async function entryHmacKeyOf(tx: Db, userId: string): Promise<Uint8Array | null> {
  return (await findEntryHmacKey(tx, userId)) ?? (await createEntryHmacKey(tx, userId, newEntryHmacKey())) ?? null;
}

/**
 * How an audit event names an authorization_details entry: its action and, under the user's
 * entry key, an HMAC of its canonical form (`authorizationDetailHmac`), never the entry. The entry
 * holds the card, the payee and the person's own payment reference, and the audit trail is
 * append-only and kept after an erasure; the HMAC still proves which entry was asked for,
 * approved and used, against the approval or the payment token that carries it, while the key
 * lives, and proves nothing once the erasure has deleted it. Without a key, the action alone.
 */
export function auditedEntry(detail: AuthorizationDetail, entryHmacKey: Uint8Array | null): AuditedEntry {
  const action = actionOf(detail);
  return entryHmacKey ? { action, entryHmac: authorizationDetailHmac(detail, entryHmacKey) } : { action };
}

/** How the audit trail names an entry (`auditedEntry`). */
export type AuditedEntry = {
  readonly action: ApprovalAction;
  readonly entryHmac?: string;
};

/** The `detail` of `payment.refused`: the action, the entry's HMAC when known, and `step: 'request'` for a refused request for approval. */
export type RefusedPaymentDetail = AuditedEntry & { readonly step?: 'request' };

/**
 * What the audit trail names of a `requestApproval` refused before it ran (see
 * `approvalAuth.paymentRefusal`): the action asked for, marked as a request (`step`), and not the
 * entry; a payment action refused before it ran is named by its action alone likewise. The
 * refusal is built as the field's authorization fails, with the input alone and without reading
 * the database, and goes through the buffered audit writer, since it changes nothing; the entry's
 * HMAC needs the user's key, which a user who never had an approval does not have, and creating it
 * would be the one write of a refused call. Never throws.
 */
export function refusedRequestDetail(input: { readonly action: ApprovalAction }): RefusedPaymentDetail {
  return { action: input.action, step: 'request' };
}

/** An audit event about this approval, by the caller: the approval's id and `auditedEntry`, with `detail`. */
export function auditOf(action: 'approval.requested' | 'approval.answered' | 'approval.used', { approval, entryHmacKey }: KeyedApproval, caller: Caller, detail: Record<string, unknown>): AuditEventInput {
  return {
    ...auditCaller(caller.principal, caller.requestId),
    action,
    subjectUserId: approval.userId,
    consentId: approval.consentId,
    decision: 'ALLOW',
    detail: { approvalId: approval.id, ...auditedEntry(approval.authorizationDetails, entryHmacKey), ...detail },
  };
}

/**
 * Records a refused answer to `approval` in its user's trail, named as its other events name it,
 * through the buffered writer since it changes nothing: a refusal reads the user's entry key and
 * never creates one.
 */
export async function recordRefusedAnswer(deps: Pick<Services, 'db' | 'audit'>, approval: Approval, caller: Caller, reason: string): Promise<void> {
  const entryHmacKey = await findEntryHmacKey(deps.db, approval.userId);
  deps.audit.record({ ...auditOf('approval.answered', { approval, entryHmacKey }, caller, {}), decision: 'DENY', reason });
}
