import type { OrdersTable, PreferencesJson } from '../db/database.js';
import { UNSPENT_ORDER_STATUSES } from '../identity/order-status.js';
import type { SeedRow, SeedTransaction } from '../identity/seed.writer.js';
import type { ConsentRow } from './consent.seed.js';

/** What a loaded customer brings to its audience rows. */
export interface LoadedCustomer {
  readonly user: {
    readonly id: string;
    readonly country: string | null;
    readonly locale: string | null;
    readonly loyalty_tier: string | null;
    readonly loyalty_points: number;
    readonly birthdate: string | null;
    readonly created_at: Date;
    readonly preferences: PreferencesJson;
  };
  readonly orders: readonly { readonly placed_at: Date; readonly total_minor: number; readonly status: OrdersTable['status'] }[];
}

/**
 * The `audience_members` rows that `audience_resync` (migration 0025) derives for these customers
 * and consents, computed from the rows being loaded instead of read back: one row per active
 * consent to the company, with the user's filter attributes, interests and channels from the
 * preferences, and order count, spend (of the orders not cancelled or refunded) and last order. For active users only (every seeded one).
 * A bulk load writes them with the triggers off; test/audiences/audience-bulk.test.ts holds them
 * equal to what the triggers write.
 */
function audienceRowsOf(customers: readonly LoadedCustomer[], consents: readonly ConsentRow[]): SeedRow<'audience_members'>[] {
  const byId = new Map(customers.map((c) => [c.user.id, c]));
  const rows: SeedRow<'audience_members'>[] = [];
  for (const consent of consents) {
    if (consent.status !== 'active' || consent.agent_id !== null) continue;
    const customer = byId.get(consent.user_id);
    if (!customer) throw new TypeError(`consent ${consent.id} names a user outside the batch`);
    const { user, orders } = customer;
    let spend = 0;
    let last: Date | null = null;
    for (const order of orders) {
      if (!UNSPENT_ORDER_STATUSES.includes(order.status)) spend += order.total_minor;
      if (!last || order.placed_at > last) last = order.placed_at;
    }
    rows.push({
      purpose: consent.purpose,
      user_id: user.id,
      consent_id: consent.id,
      expires_at: consent.expires_at,
      country: user.country,
      locale: user.locale,
      loyalty_tier: user.loyalty_tier,
      loyalty_points: user.loyalty_points,
      birthdate: user.birthdate,
      signed_up_at: user.created_at,
      interests: strings(user.preferences.interests),
      channels: strings(user.preferences.channels),
      order_count: orders.length,
      order_spend_minor: spend,
      last_order_at: last,
    });
  }
  return rows;
}

/** Writes the audience rows of a batch loaded with the triggers off, in its transaction. */
export async function insertAudienceRows(tx: SeedTransaction, customers: readonly LoadedCustomer[], consents: readonly ConsentRow[]): Promise<number> {
  const rows = audienceRowsOf(customers, consents);
  await tx.append('audience_members', rows);
  return rows.length;
}

/** As the trigger reads a preferences list: its elements as text when it is an array, else none. */
function strings(list: unknown): string[] {
  return Array.isArray(list) ? list.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))) : [];
}
