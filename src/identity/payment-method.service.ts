import type { Db } from '../db/connect.js';
import { BadUserInputError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import type { PaymentMethod } from './order.queries.js';
import { countPaymentMethods, insertPaymentMethod, type MaskedCard } from './payment-method.queries.js';

/**
 * Most payment methods a user may hold: a profile lists them whole, without pages, and each is
 * added by an agent with the user's approval. A user who holds this many changes one instead.
 */
export const MAX_PAYMENT_METHODS = 20;

/** @throws BadUserInputError when the user holds MAX_PAYMENT_METHODS already: an addition could not be made. */
export async function assertRoomForPaymentMethod(db: Db, userId: string): Promise<void> {
  if ((await countPaymentMethods(db, userId)) >= MAX_PAYMENT_METHODS) {
    throw new BadUserInputError('input', `the user holds ${MAX_PAYMENT_METHODS} payment methods, the most one may hold; change one of them instead`);
  }
}

/**
 * Stores a masked card as a new payment method of the user, in the caller's transaction, which
 * must make the user's additions take turns (the payment actions hold the user's consent lock),
 * so that additions at once cannot pass MAX_PAYMENT_METHODS.
 * @throws BadUserInputError when the user holds MAX_PAYMENT_METHODS already.
 */
export async function addPaymentMethod(tx: Db, userId: string, card: MaskedCard, now: Date): Promise<PaymentMethod> {
  await assertRoomForPaymentMethod(tx, userId);
  return insertPaymentMethod(tx, { id: newId('pm'), userId, card, now });
}
