/**
 * What an approval approves: one RFC 9396 `authorization_details` entry. A payment is the
 * `payment_initiation` type of the RFC's own example; adding or changing a stored payment method
 * is the hub's `payment_method` type. An entry is built only from validated input (see
 * approval.input.ts), always with the same keys and normalized values, so two requests for the
 * same action build equal entries and a stored entry can be compared with `=` in the database.
 */
import { createHmac } from 'node:crypto';
import { sortKeys } from '../shared/canonical-json.js';

/** The actions an agent can ask approval for, as GraphQL names them. */
export const APPROVAL_ACTIONS = ['ADD_PAYMENT_METHOD', 'CHANGE_PAYMENT_METHOD', 'PAY'] as const;
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number];

/** A payment: what is paid, to whom, with what reference (RFC 9396 §2, the payment_initiation example). */
export interface PaymentInitiationDetail {
  readonly type: 'payment_initiation';
  readonly actions: readonly ['initiate'];
  /** `amount` is a decimal string with exactly the currency's minor-unit digits. */
  readonly instructedAmount: { readonly currency: string; readonly amount: string };
  readonly creditorName: string;
  readonly remittanceInformationUnstructured?: string;
}

/** A masked card as the hub stores it: never the card number. */
export interface MaskedCard {
  readonly brand: string;
  readonly last4: string;
  readonly expMonth: number;
  readonly expYear: number;
}

/** Adding a payment method, or changing the one `identifier` names (RFC 9396 §2.2 `identifier`). */
export interface PaymentMethodDetail {
  readonly type: 'payment_method';
  readonly actions: readonly ['add'] | readonly ['change'];
  readonly identifier?: string;
  readonly instrument: MaskedCard;
}

export type AuthorizationDetail = PaymentInitiationDetail | PaymentMethodDetail;

/** A validated payment, as `paymentSchema` yields it. */
export interface Payment {
  readonly amount: string;
  readonly currency: string;
  readonly creditorName: string;
  readonly description?: string | null;
}

/** The entry approving this payment. */
export function paymentDetail(payment: Payment): PaymentInitiationDetail {
  return {
    type: 'payment_initiation',
    actions: ['initiate'],
    instructedAmount: { currency: payment.currency, amount: payment.amount },
    creditorName: payment.creditorName,
    ...(payment.description ? { remittanceInformationUnstructured: payment.description } : {}),
  };
}

/** The entry approving adding this card, or changing the stored method `paymentMethodId` to it. */
export function paymentMethodDetail(card: MaskedCard, paymentMethodId?: string): PaymentMethodDetail {
  const instrument = { brand: card.brand, last4: card.last4, expMonth: card.expMonth, expYear: card.expYear };
  return paymentMethodId ? { type: 'payment_method', actions: ['change'], identifier: paymentMethodId, instrument } : { type: 'payment_method', actions: ['add'], instrument };
}

/** The action an entry approves. */
export function actionOf(detail: AuthorizationDetail): ApprovalAction {
  if (detail.type === 'payment_initiation') return 'PAY';
  return detail.actions[0] === 'change' ? 'CHANGE_PAYMENT_METHOD' : 'ADD_PAYMENT_METHOD';
}

/** What an approval shows the user, in typed fields; null where the action has no such part. */
export interface ApprovalSummary {
  readonly action: ApprovalAction;
  readonly amount: string | null;
  readonly currency: string | null;
  readonly creditorName: string | null;
  readonly description: string | null;
  readonly paymentMethodId: string | null;
  readonly card: MaskedCard | null;
}

export function summarize(detail: AuthorizationDetail): ApprovalSummary {
  if (detail.type === 'payment_initiation') {
    return {
      action: 'PAY',
      amount: detail.instructedAmount.amount,
      currency: detail.instructedAmount.currency,
      creditorName: detail.creditorName,
      description: detail.remittanceInformationUnstructured ?? null,
      paymentMethodId: null,
      card: null,
    };
  }
  return { action: actionOf(detail), amount: null, currency: null, creditorName: null, description: null, paymentMethodId: detail.identifier ?? null, card: detail.instrument };
}

/**
 * HMAC-SHA256 (hex), under the user's entry key, of the entry in canonical JSON (RFC 8785: keys
 * sorted at every depth, no whitespace; the entries hold only strings and small integers, which
 * `JSON.stringify` already writes as RFC 8785 does). It names the entry in the audit trail without
 * copying it: equal for an entry as built and as read back from jsonb, which keeps its own key
 * order. Keyed, because a plain hash would not hide the entry: a card is a brand, four digits and
 * an expiry, some 10^8 entries in all, and a payment little more, so trying every entry finds the
 * one hashed in seconds. The key is random, one per user, and deleted by their erasure, after
 * which the HMACs kept in the append-only trail name no entry anyone can find again.
 */
export function authorizationDetailHmac(detail: AuthorizationDetail, key: Uint8Array): string {
  return createHmac('sha256', key).update(JSON.stringify(sortKeys(detail))).digest('hex');
}
