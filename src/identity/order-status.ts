import type { OrdersTable } from '../db/database.js';

/**
 * The statuses of an order whose money the customer did not keep: counted as an order placed,
 * never in what the customer spent (an audience's `minSpendMinor`).
 */
export const UNSPENT_ORDER_STATUSES: readonly OrdersTable['status'][] = ['cancelled', 'refunded'];
