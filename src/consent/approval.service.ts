import type { Services } from '../app.js';
import { auditCaller, auditInTransaction, type AuditEventInput } from '../audit/audit.service.js';
import type { Principal } from '../authz/principal.js';
import type { Caller } from '../identity/identity.service.js';
import type { Db } from '../db/connect.js';
import { BadUserInputError, NotFoundError, RateLimitedError, UnauthenticatedError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { parseInput } from '../shared/input.js';
import { actionOf, authorizationDetailDigest, type ApprovalAction, type AuthorizationDetail, type MaskedCard } from './approval.details.js';
import { requestApprovalSchema } from './approval.input.js';
import { answerApproval, deleteApprovalsOfUser, findApprovalsByIds, findOpenApprovals, insertApproval, lockUserApprovals, type Approval } from './approval.queries.js';

export type { Approval } from './approval.queries.js';

/** What the approval functions need of the hub's services. */
export type ApprovalDeps = Pick<Services, 'db' | 'clock' | 'keys' | 'config' | 'identity'>;

/** A caller that is an agent acting for a user. */
export type DelegatedCaller = Caller & { readonly principal: Extract<Principal, { kind: 'delegated' }> };

/** @throws TypeError for any caller but an agent acting for a user: the fields' authScopes refuse them first. */
export function asAgent(caller: Caller): DelegatedCaller {
  if (caller.principal.kind !== 'delegated') throw new TypeError('payment actions are for an agent acting for a user');
  return caller as DelegatedCaller;
}

/** Most approvals one agent may have waiting for one user's answer at once. */
export const MAX_OPEN_APPROVALS = 10;

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
 * @throws BadUserInputError naming the bad field; RateLimitedError past MAX_OPEN_APPROVALS;
 *   UnauthenticatedError when the user was erased or suspended since the token check.
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
  }
  return deps.db.transaction().execute(async (tx) => {
    await lockUserApprovals(tx, userId);
    // Read after the lock an erasure also takes: a request that waited for one stores nothing.
    if (!(await deps.identity.findActiveUser(tx, userId))) throw new UnauthenticatedError('The user is no longer active');
    const open = await findOpenApprovals(tx, userId, agentId, now);
    if (open.length >= MAX_OPEN_APPROVALS) throw new RateLimitedError(Math.max(1, Math.ceil((open[0]!.expiresAt.getTime() - now.getTime()) / 1_000)));
    const approval = await insertApproval(tx, {
      id: newId('apr'),
      userId,
      agentId,
      consentId,
      authorizationDetails: detail,
      createdAt: now,
      expiresAt: new Date(now.getTime() + expiresInSeconds * 1_000),
    });
    await auditInTransaction(tx, auditOf('approval.requested', approval, caller, { expiresAt: approval.expiresAt.toISOString() }), now);
    return approval;
  });
}

/**
 * The user's answer to an approval that asks them, while it is pending and unexpired. Who may
 * answer, and how recently signed in, is decided before (`decideApprovalAnswer`); the event
 * records when the answering session's sign-in was (`authTime`, from its `auth_time`).
 * @throws NotFoundError for an approval of someone else; BadUserInputError once it was answered or expired.
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
    await auditInTransaction(tx, auditOf('approval.answered', answered, caller, { answer: decision, authTime: principal.authTime?.toISOString() ?? null }), now);
    return answered;
  });
}

/**
 * Deletes every approval of the user, in the caller's transaction (an erasure); resolves to how
 * many. Takes the lock that `requestApproval` holds for its whole transaction, before any agent's
 * row: a request under way commits first and its approval is deleted too; a request that waits
 * for the lock then finds the user no longer active. An approval being answered or used keeps its
 * row locked until that commits, and is then deleted.
 */
export async function deleteAllApprovalsOfUser(tx: Db, userId: string): Promise<number> {
  await lockUserApprovals(tx, userId);
  return deleteApprovalsOfUser(tx, userId);
}

/** @throws BadUserInputError for a card past its expiry month at `now`. */
export function assertCardCurrent(card: MaskedCard, now: Date, path: string): void {
  const current = now.getUTCFullYear() * 12 + now.getUTCMonth() + 1;
  if (card.expYear * 12 + card.expMonth < current) throw new BadUserInputError(`${path}.expYear`, 'the card has expired');
}

/**
 * How an audit event names an authorization_details entry: its action and the SHA-256 of its
 * canonical form, never the entry. The entry holds the card, the payee and the person's own
 * payment reference, and the audit trail is append-only and kept after an erasure; the digest
 * still proves which entry was asked for, approved and used, against the approval or the payment
 * token that carries it.
 */
export function auditedEntry(detail: AuthorizationDetail) {
  return { action: actionOf(detail), entrySha256: authorizationDetailDigest(detail) };
}

/** The `detail` of `payment.refused`: the action, the entry's digest when known, and `step: 'request'` for a refused request for approval. */
export type RefusedPaymentDetail = {
  readonly action: ApprovalAction;
  readonly entrySha256?: string;
  readonly step?: 'request';
};

/**
 * What the audit trail names of a `requestApproval` refused before it ran (see
 * `approvalAuth.paymentRefusal`): the action asked for and, when the input is valid, the entry, as
 * `auditedEntry` names it, marked as a request (`step`). Never throws.
 */
export function refusedRequestDetail(input: { readonly action: ApprovalAction }): RefusedPaymentDetail {
  const parsed = requestApprovalSchema.safeParse(input);
  return { ...(parsed.success ? auditedEntry(parsed.data.detail) : { action: input.action }), step: 'request' };
}

/** An audit event about this approval, by the caller: the approval's id and `auditedEntry`, with `detail`. */
export function auditOf(action: 'approval.requested' | 'approval.answered' | 'approval.used', approval: Approval, caller: Caller, detail: Record<string, unknown>): AuditEventInput {
  return {
    ...auditCaller(caller.principal, caller.requestId),
    action,
    subjectUserId: approval.userId,
    consentId: approval.consentId,
    decision: 'ALLOW',
    detail: { approvalId: approval.id, ...auditedEntry(approval.authorizationDetails), ...detail },
  };
}
