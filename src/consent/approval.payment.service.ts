import type { Services } from '../app.js';
import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import { decideConsentInForce } from '../authz/delegation.js';
import type { Db } from '../db/connect.js';
import type { Caller } from '../identity/identity.service.js';
import type { PaymentMethod } from '../identity/order.queries.js';
import { actorOf } from '../oauth/delegation.js';
import { issuePaymentToken } from '../oauth/payment-token.js';
import { ForbiddenError, NotFoundError, type ForbiddenReason } from '../shared/errors.js';
import { parseInput } from '../shared/input.js';
import { paymentDetail, paymentMethodDetail, type AuthorizationDetail } from './approval.details.js';
import { cardSchema, changePaymentMethodSchema, paymentSchema } from './approval.input.js';
import { useApproval, type Approval } from './approval.queries.js';
import { asAgent, assertCardCurrent, auditedEntry, auditOf, type ApprovalDeps, type DelegatedCaller } from './approval.service.js';
import { consentState } from './consent.service.js';

// The agent's payment actions. Each runs only in the transaction that uses an approval of exactly
// that action; without one it is refused with APPROVAL_REQUIRED, and the refusal is audited.

/** The refusal of a payment action without a usable approval. */
const approvalRequired = () => new ForbiddenError('APPROVAL_REQUIRED', 'This action needs the user’s approval: call requestApproval for exactly this action and wait for it to be approved');

/**
 * Runs `effect` in the transaction that uses an approval for exactly `detail`, and records the
 * use; without one, records the refusal and throws. An effect that throws rolls the use back.
 * @throws ForbiddenError APPROVAL_REQUIRED when no approval can be used.
 */
async function withApproval<T>(deps: ApprovalDeps, detail: AuthorizationDetail, caller: DelegatedCaller, effect: (tx: Db, approval: Approval, now: Date) => Promise<{ result: T; detail?: Record<string, unknown> }>): Promise<T> {
  const now = deps.clock.now();
  const { userId, consentId } = caller.principal;
  const outcome = await deps.db.transaction().execute(async (tx) => {
    const approval = await useApproval(tx, { userId, agentId: caller.principal.actorChain[0]!, consentId, detail }, now);
    if (!approval) {
      await auditInTransaction(
        tx,
        { action: 'payment.refused', ...auditCaller(caller.principal, caller.requestId), subjectUserId: userId, decision: 'DENY', reason: 'APPROVAL_REQUIRED', detail: auditedEntry(detail) },
        now,
      );
      return undefined;
    }
    const done = await effect(tx, approval, now);
    await auditInTransaction(tx, auditOf('approval.used', approval, caller, done.detail ?? {}), now);
    return done;
  });
  if (!outcome) throw approvalRequired();
  return outcome.result;
}

/**
 * Adds a masked card to the user's payment methods, using an approval to add exactly it.
 * @throws BadUserInputError for a bad card; ForbiddenError APPROVAL_REQUIRED.
 */
export async function addPaymentMethod(deps: ApprovalDeps, input: unknown, anyCaller: Caller): Promise<PaymentMethod> {
  const caller = asAgent(anyCaller);
  const card = parseInput(cardSchema, input);
  assertCardCurrent(card, deps.clock.now(), 'input');
  return withApproval(deps, paymentMethodDetail(card), caller, async (tx, _approval, now) => {
    const method = await deps.identity.addPaymentMethod(tx, caller.principal.userId, card, now);
    return { result: method, detail: { paymentMethodId: method.id } };
  });
}

/**
 * Changes one of the user's payment methods to a new masked card, using an approval for exactly
 * that method and card. An unknown method leaves the approval unused.
 * @throws BadUserInputError; NotFoundError for a method the user does not have; ForbiddenError APPROVAL_REQUIRED.
 */
export async function changePaymentMethod(deps: ApprovalDeps, input: unknown, anyCaller: Caller): Promise<PaymentMethod> {
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

/** Why a payment is refused whose consent ended since the request's token check, or ends within this second. */
const CONSENT_ENDED: Partial<Record<ForbiddenReason, string>> = {
  NO_CONSENT: 'The consent this token was issued under no longer exists',
  CONSENT_WITHDRAWN: 'The consent this token was issued under was withdrawn',
  CONSENT_EXPIRED: 'The consent this token was issued under has expired',
};
const consentEnded = (reason: ForbiddenReason) => new ForbiddenError(reason, CONSENT_ENDED[reason]);

/**
 * Uses an approval for exactly this payment and answers with a short-lived token carrying it
 * (RFC 9396 §9) for the commerce API that takes the payment. The token names the consent the
 * agent's token was issued under, and ends no later than that consent or that token. The consent
 * is read again in the transaction that uses the approval, so one that ended since the token
 * check leaves the approval unused.
 * @throws BadUserInputError for a bad payment; ForbiddenError APPROVAL_REQUIRED, or
 *   CONSENT_WITHDRAWN / CONSENT_EXPIRED / NO_CONSENT when the consent is no longer in force.
 */
export async function authorizePayment(deps: ApprovalDeps & Pick<Services, 'consents'>, input: unknown, anyCaller: Caller): Promise<PaymentAuthorization> {
  const caller = asAgent(anyCaller);
  const detail = paymentDetail(parseInput(paymentSchema, input));
  const { principal } = caller;
  return withApproval(deps, detail, caller, async (tx, approval, now) => {
    const [found] = await deps.consents.findConsents(tx, [principal.consentId]);
    const inForce = decideConsentInForce(principal, found ? { ...found, expired: consentState(found, now) === 'EXPIRED' } : null);
    if (!inForce.allowed) throw consentEnded(inForce.reason);
    // In force, so found.
    const consent = found!;
    const token = await issuePaymentToken(
      deps.keys,
      deps.config.issuer,
      {
        sub: principal.userId,
        client_id: principal.clientId,
        act: actorOf(principal.actorChain)!,
        consent_id: consent.id,
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
