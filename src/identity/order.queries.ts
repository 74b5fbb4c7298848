import { sql, type Selectable } from 'kysely';
import type { Db } from '../db/connect.js';
import type { LineItemJson, OrdersTable, PaymentMethodsTable } from '../db/database.js';
import { PREPARED_MARKER } from '../db/prepared.js';

/** A first-party order, as the domain sees it. Amounts in minor units of `currency`. */
export interface Order {
  readonly id: string;
  readonly userId: string;
  readonly placedAt: Date;
  readonly totalMinor: number;
  readonly currency: string;
  readonly status: OrdersTable['status'];
  readonly lineItems: readonly LineItemJson[];
}

export interface PaymentMethod {
  readonly id: string;
  readonly userId: string;
  readonly brand: string;
  readonly last4: string;
  readonly expMonth: number;
  readonly expYear: number;
}

/** An `orders` row as `findOrderPages` reads it: its line items as their JSON text. */
type OrderRow = Pick<Selectable<OrdersTable>, 'id' | 'user_id' | 'placed_at' | 'total_minor' | 'currency' | 'status'> & { readonly line_items: string };

/**
 * The one mapping from an `orders` row to an Order. Its line items are parsed from their JSON
 * when first read: a page of 50 users with 10 orders each seldom shows them, and parsing every
 * order's took a twentieth of the time such a page costs the hub.
 */
class OrderOfRow implements Order {
  readonly id: string;
  readonly userId: string;
  readonly placedAt: Date;
  readonly totalMinor: number;
  readonly currency: string;
  readonly status: OrdersTable['status'];
  readonly #lineItemsJson: string;
  #lineItems: readonly LineItemJson[] | undefined;

  constructor(row: OrderRow) {
    this.id = row.id;
    this.userId = row.user_id;
    this.placedAt = row.placed_at;
    this.totalMinor = row.total_minor;
    this.currency = row.currency;
    this.status = row.status;
    this.#lineItemsJson = row.line_items;
  }

  get lineItems(): readonly LineItemJson[] {
    return (this.#lineItems ??= JSON.parse(this.#lineItemsJson) as LineItemJson[]);
  }
}

/** Where a page of orders starts: after this (placedAt, id), newest first. */
export interface OrderKey {
  readonly placedAt: Date;
  readonly id: string;
}

/**
 * The newest `limit` orders of each user (after `after`), in one statement: a lateral join walks
 * the (user_id, placed_at desc, id desc) index once per user and stops at `limit`. Prepared, as the
 * profile reads of every request are (see PREPARED_MARKER): their text never varies with how many
 * users, and they name their columns, so a column a later migration adds does not change the
 * result of a statement a running instance has prepared.
 */
export async function findOrderPages(db: Db, userIds: readonly string[], limit: number, after?: OrderKey): Promise<Map<string, Order[]>> {
  const byUser = new Map<string, Order[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0 || limit === 0) return byUser;
  const { rows } = await sql<OrderRow>`${sql.raw(PREPARED_MARKER)}
    select o.* from unnest(${[...userIds]}::text[]) as u(id)
    cross join lateral (
      select id, user_id, placed_at, total_minor, currency, status, line_items::text as line_items from orders
      where user_id = u.id ${after ? sql`and (placed_at, id) < (${after.placedAt}, ${after.id})` : sql``}
      order by placed_at desc, id desc
      limit ${limit}
    ) as o
  `.execute(db);
  for (const row of rows) byUser.get(row.user_id)?.push(new OrderOfRow(row));
  return byUser;
}

export async function countOrders(db: Db, userIds: readonly string[]): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('orders')
    .select(['user_id', (eb) => eb.fn.countAll<number>().as('count')])
    .where('user_id', 'in', userIds)
    .groupBy('user_id')
    .execute();
  return new Map(rows.map((row) => [row.user_id, Number(row.count)]));
}

/** The payment methods of each user, oldest first; prepared, as `findOrderPages` is. */
export async function findPaymentMethods(db: Db, userIds: readonly string[]): Promise<Map<string, PaymentMethod[]>> {
  const byUser = new Map<string, PaymentMethod[]>(userIds.map((id) => [id, []]));
  const { rows } = await sql<Pick<Selectable<PaymentMethodsTable>, 'id' | 'user_id' | 'brand' | 'last4' | 'exp_month' | 'exp_year'>>`${sql.raw(PREPARED_MARKER)}
    select id, user_id, brand, last4, exp_month, exp_year from payment_methods
    where user_id = any(${[...userIds]}::text[]) order by created_at, id`.execute(db);
  for (const row of rows) {
    byUser.get(row.user_id)?.push({ id: row.id, userId: row.user_id, brand: row.brand, last4: row.last4, expMonth: row.exp_month, expYear: row.exp_year });
  }
  return byUser;
}
