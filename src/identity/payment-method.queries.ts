import type { Db } from '../db/connect.js';
import type { PaymentMethod } from './order.queries.js';

/** A card as the hub keeps it: masked, never its number. */
export type MaskedCard = Pick<PaymentMethod, 'brand' | 'last4' | 'expMonth' | 'expYear'>;

const COLUMNS = ['id', 'user_id', 'brand', 'last4', 'exp_month', 'exp_year'] as const;

function toPaymentMethod(row: { id: string; user_id: string; brand: string; last4: string; exp_month: number; exp_year: number }): PaymentMethod {
  return { id: row.id, userId: row.user_id, brand: row.brand, last4: row.last4, expMonth: row.exp_month, expYear: row.exp_year };
}

/** Stores a masked card as a new payment method of the user. */
export async function insertPaymentMethod(db: Db, method: { id: string; userId: string; card: MaskedCard; now: Date }): Promise<PaymentMethod> {
  const row = await db
    .insertInto('payment_methods')
    .values({ id: method.id, user_id: method.userId, brand: method.card.brand, last4: method.card.last4, exp_month: method.card.expMonth, exp_year: method.card.expYear, created_at: method.now })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
  return toPaymentMethod(row);
}

/** Replaces the card of one of the user's payment methods; undefined when the user has no method with that id. */
export async function replacePaymentMethodCard(db: Db, userId: string, id: string, card: MaskedCard): Promise<PaymentMethod | undefined> {
  const row = await db
    .updateTable('payment_methods')
    .set({ brand: card.brand, last4: card.last4, exp_month: card.expMonth, exp_year: card.expYear })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .returning(COLUMNS)
    .executeTakeFirst();
  return row && toPaymentMethod(row);
}

/** How many payment methods the user has. */
export async function countPaymentMethods(db: Db, userId: string): Promise<number> {
  const row = await db.selectFrom('payment_methods').select((eb) => eb.fn.countAll<number>().as('count')).where('user_id', '=', userId).executeTakeFirstOrThrow();
  return Number(row.count);
}

/** True when the user has a payment method with this id. */
export async function paymentMethodExists(db: Db, userId: string, id: string): Promise<boolean> {
  const row = await db.selectFrom('payment_methods').select('id').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return row !== undefined;
}
