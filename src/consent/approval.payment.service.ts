import type { Services } from '../app.js';
import { auditCaller, auditInTransaction, type AuditEventInput } from '../audit/audit.service.js';
import { paymentScopes } from '../authz/approval-access.js';
import type { Db } from '../db/connect.js';
import type { Caller, PaymentMethod } from '../identity/identity.service.js';
import { actorOf } from '../oauth/delegation.js';
import { issuePaymentToken } from '../oauth/payment-token.js';
import { ForbiddenError, NotFoundError, UnauthenticatedError, type ForbiddenReason } from '../shared/errors.js';
import { parseInput } from '../shared/input.js';
import { paymentDetail, paymentMethodDetail, type AuthorizationDetail } from './approval.details.js';
import { cardSchema, changePaymentMethodSchema, paymentSchema } from './approval.input.js';
import { useApproval, type Approval } from './approval.queries.js';
import { asAgent, assertCardCurrent, auditedEntry, auditOf, entryHmacKeyOf, type ApprovalDeps, type DelegatedCaller } from './approval.service.js';
import { consentEnded, type Consent } from './consent.service.js';

// The agent's payment actions. Each runs only in the transaction that uses an approval of exactly
// that action, holding the consent and the agents the approval stands on; without one it is
// refused with APPROVAL_REQUIRED. Every refusal is audited.

/** What the payment actions need of the hub's services. */
export type PaymentDeps = ApprovalDeps & Pick<Services, 'consents' | 'agents'>;

/** The refusal of a payment action without a usable approval. */
const approvalRequired = () => new ForbiddenError('APPROVAL_REQUIRED', 'This action needs the user’s approval: call requestApproval for exactly this action and wait for it to be approved');

/** What a use stands on, held by its transaction: the approval used and the consent it was asked under. */
interface Use {
  readonly approval: Approval;
  readonly consent: Consent;
  readonly now: Date;
}

/**
 * Runs `effect` in the transaction that uses an approval for exactly `detail`, holding what it
 * stands on (`holdGrant`), and records the use. A refusal, before the use or by the effect, rolls
 * the transaction back (an approval used is unused again) and is then recorded as
 * `payment.refused` in a transaction of its own, which reads the user's entry key for it, and
 * creates it if they have none; any other error of the effect rolls the use back.
 * @throws ForbiddenError APPROVAL_REQUIRED when no approval can be used, or as `holdGrant` and the effect refuse.
 */
async function withApproval<T>(deps: PaymentDeps, detail: AuthorizationDetail, caller: DelegatedCaller, effect: (tx: Db, use: Use) => Promise<{ result: T; detail?: Record<string, unknown> }>): Promise<T> {
  const now = deps.clock.now();
  const { userId, consentId } = caller.principal;
  try {
    return await deps.db.transaction().execute(async (tx) => {
      // What it stands on, locked and checked as it is now (`ConsentService.holdGrant`).
      const consent = await deps.consents.holdGrant(tx, caller.principal, now);
      const used = await useApproval(tx, { userId, agentId: caller.principal.actorChain[0]!, consentId, detail }, now);
      if (!used) throw approvalRequired();
      const done = await effect(tx, { approval: used.approval, consent, now });
      await auditInTransaction(tx, auditOf('approval.used', used, caller, done.detail ?? {}), now);
      return done.result;
    });
  } catch (error) {
    // A user suspended or erased since the token check is refused by `holdGrant` as the next request's check would.
    const reason = error instanceof ForbiddenError ? error.reason : error instanceof UnauthenticatedError ? 'USER_INACTIVE' : undefined;
    if (reason) {
      await deps.db.transaction().execute(async (tx) => auditInTransaction(tx, refusedEvent(caller, detail, reason, await entryHmacKeyOf(tx, userId)), now));
    }
    throw error;
  }
}

/** The audit event of a payment action refused in the transaction that would have used an approval for `detail`. */
function refusedEvent(caller: DelegatedCaller, detail: AuthorizationDetail, reason: ForbiddenReason | 'USER_INACTIVE', entryHmacKey: Uint8Array | null): AuditEventInput {
  return { action: 'payment.refused', ...auditCaller(caller.principal, caller.requestId), subjectUserId: caller.principal.userId, decision: 'DENY', reason, detail: auditedEntry(detail, entryHmacKey) };
}

/**
 * Adds a masked card to the user's payment methods, using an approval to add exactly it. One
 * that would pass MAX_PAYMENT_METHODS leaves the approval unused.
 * @throws BadUserInputError for a bad card, or a user who holds MAX_PAYMENT_METHODS; ForbiddenError
 *   APPROVAL_REQUIRED, or as `holdGrant` refuses.
 */
export async function addPaymentMethod(deps: PaymentDeps, input: unknown, anyCaller: Caller): Promise<PaymentMethod> {
  const caller = asAgent(anyCaller);
  const card = parseInput(cardSchema, input);
  assertCardCurrent(card, deps.clock.now(), 'input');
  return withApproval(deps, paymentMethodDetail(card), caller, async (tx, { now }) => {
    const method = await deps.identity.addPaymentMethod(tx, caller.principal.userId, card, now);
    return { result: method, detail: { paymentMethodId: method.id } };
  });
}

/**
 * Changes one of the user's payment methods to a new masked card, using an approval for exactly
 * that method and card. An unknown method leaves the approval unused.
 * @throws BadUserInputError; NotFoundError for a method the user does not have; ForbiddenError
 *   APPROVAL_REQUIRED, or as `holdGrant` refuses.
 */
export async function changePaymentMethod(deps: PaymentDeps, input: unknown, anyCaller: Caller): Promise<PaymentMethod> {
  const caller = asAgent(anyCaller);
  const { id, paymentMethod: card } = parseInput(changePaymentMethodSchema, input);
  assertCardCurrent(card, deps.clock.now(), 'input.paymentMethod');
  return withApproval(deps, paymentMethodDetail(card, id), caller, async (tx) => {
    const method = await deps.identity.changePaymentMethod(tx, caller.principal.userId, id, card);
    if (!method) throw new NotFoundError('Payment method');
    return { result: method, detail: { paymentMethodId: id } };
  });
}

/** What `authorizePayment` hands the agent: the token the commerce API takes, and the approval used. */
export interface PaymentAuthorization {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly authorizationDetails: readonly AuthorizationDetail[];
  readonly approval: Approval;
}

/**
 * Uses an approval for exactly this payment and answers with a short-lived token carrying it
 * (RFC 9396 §9) for the commerce API that takes the payment. The token names the consent the
 * agent's token was issued under, and ends no later than that consent or that token.
 * @throws BadUserInputError for a bad payment; ForbiddenError APPROVAL_REQUIRED, or
 *   CONSENT_WITHDRAWN / CONSENT_EXPIRED / NO_CONSENT / AGENT_INACTIVE when what the approval
 *   stands on ended since the token check (see `holdGrant`), or the consent ends within the second.
 */
export async function authorizePayment(deps: PaymentDeps, input: unknown, anyCaller: Caller): Promise<PaymentAuthorization> {
  const caller = asAgent(anyCaller);
  const detail = paymentDetail(parseInput(paymentSchema, input));
  const { principal } = caller;
  return withApproval(deps, detail, caller, async (_tx, { approval, consent, now }) => {
    const token = await issuePaymentToken(
      deps.keys,
      deps.config.issuer,
      {
        sub: principal.userId,
        client_id: principal.clientId,
        act: actorOf(principal.actorChain)!,
        consent_id: consent.id,
        purpose: consent.purpose,
        scope: paymentScopes(principal.scopes).join(' '),
        delegated_from: principal.lineage ?? [{ jti: principal.tokenId }],
        authorization_details: [{ ...detail }],
      },
      { now, notAfter: [consent.expiresAt, principal.expiresAt ?? null] },
    );
    if (!token) throw consentEnded('CONSENT_EXPIRED');
    return {
      result: { accessToken: token.accessToken, expiresIn: token.expiresIn, authorizationDetails: [detail], approval },
      detail: { jti: token.jti, expiresAt: token.expiresAt.toISOString() },
    };
  });
}
