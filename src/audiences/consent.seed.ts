import { ulid } from 'ulidx';
import type { SeedTransaction } from '../identity/seed.writer.js';

/**
 * Consents to the company at realistic rates, for seeded customers: per purpose, the share of
 * customers who ever gave one, and of those the shares later withdrawn and past their expiry.
 * The rest are in force (a fifth of them with an expiry years ahead).
 */
export const SEEDED_CONSENT_RATES = Object.freeze({
  email_marketing: { given: 0.4, withdrawn: 0.08, expired: 0.05 },
  personalization: { given: 0.25, withdrawn: 0.06, expired: 0.04 },
  support: { given: 0.1, withdrawn: 0.05, expired: 0.05 },
  loyalty_offers: { given: 0.3, withdrawn: 0.07, expired: 0.05 },
} as const);

const COLLECTION_METHODS = ['sign_up_form', 'preference_center', 'checkout_checkbox'] as const;
const DAY = 86_400_000;

interface SeedCustomer {
  readonly id: string;
  readonly created_at: Date;
}

export interface ConsentRow {
  id: string;
  user_id: string;
  purpose: string;
  agent_id: null;
  scopes: string[];
  status: 'active' | 'withdrawn';
  given_at: Date;
  expires_at: Date | null;
  withdrawn_at: Date | null;
  collection_method: string;
  policy_version: string;
}

/**
 * The consents of these customers, decided by their ids alone: the same seed gives the same ids,
 * so the same consents, whatever the batch size or write order. `asOf` is the seed's "now"; an
 * expired consent expired before it.
 */
export function seededConsents(customers: readonly SeedCustomer[], asOf: Date): ConsentRow[] {
  const rows: ConsentRow[] = [];
  for (const customer of customers) {
    for (const [purpose, rate] of Object.entries(SEEDED_CONSENT_RATES)) {
      const next = prng(`${customer.id}:${purpose}`);
      if (next() >= rate.given) continue;
      const from = customer.created_at.getTime();
      const givenAt = new Date(Math.floor(from + (asOf.getTime() - from) * next() * 0.9));
      const fate = next();
      const room = asOf.getTime() - givenAt.getTime();
      let status: ConsentRow['status'] = 'active';
      let expiresAt: Date | null = null;
      let withdrawnAt: Date | null = null;
      if (fate < rate.withdrawn) {
        status = 'withdrawn';
        withdrawnAt = new Date(givenAt.getTime() + Math.floor(room * next()) + 1);
      } else if (fate < rate.withdrawn + rate.expired) {
        expiresAt = new Date(givenAt.getTime() + Math.floor(room * next()) + 1);
      } else if (next() < 0.2) {
        expiresAt = new Date(asOf.getTime() + Math.floor((365 + 730 * next()) * DAY));
      }
      rows.push({
        id: `cns_${ulid(givenAt.getTime(), next)}`,
        user_id: customer.id,
        purpose,
        agent_id: null,
        scopes: [],
        status,
        given_at: givenAt,
        expires_at: expiresAt,
        withdrawn_at: withdrawnAt,
        collection_method: COLLECTION_METHODS[Math.floor(next() * COLLECTION_METHODS.length)]!,
        policy_version: '1',
      });
    }
  }
  return rows;
}

/**
 * Appends the seeded consents of one batch of customers with their ledger history (given, and
 * withdrawn where it was), in the batch's transaction.
 */
export async function insertSeededConsents(tx: SeedTransaction, customers: readonly SeedCustomer[], asOf: Date): Promise<ConsentRow[]> {
  const rows = seededConsents(customers, asOf);
  await tx.append('consents', rows);
  await tx.append(
    'consent_events',
    rows.flatMap((c) => [
      { consent_id: c.id, user_id: c.user_id, kind: 'given', occurred_at: c.given_at, actor_kind: 'user', actor_id: c.user_id, detail: { collectionMethod: c.collection_method } },
      ...(c.withdrawn_at ? [{ consent_id: c.id, user_id: c.user_id, kind: 'withdrawn', occurred_at: c.withdrawn_at, actor_kind: 'user', actor_id: c.user_id, detail: {} }] : []),
    ]),
  );
  return rows;
}

/** A small PRNG (FNV-1a of the key, then mulberry32): deterministic per key, uniform in [0, 1). */
function prng(key: string): () => number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  let state = h >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
