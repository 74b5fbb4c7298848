import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

// Spend is money the customer paid and kept paid: an order cancelled or refunded is none of it.

const clock = fixedClock(new Date('2026-06-01T09:00:00.000Z'));
let hub: Hub;
let tool: string;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  tool = await clientToken(hub, ['audience:read', 'profile:read', 'orders:read'], 'agt_01J0000000000000000000ORDS');
});
afterAll(() => hub.close());

async function ids(filter: Record<string, unknown>): Promise<string[]> {
  const response = await graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "support", filter: $f, first: 100) { edges { node { id } } } }', { token: tool, variables: { f: filter } });
  expect(response.errors).toBeUndefined();
  return response.data.audience.edges.map((e: any) => e.node.id);
}

/** A member of `support` whose only orders, of 500 EUR each in May, were refunded and cancelled. */
async function memberWithUnspentOrders() {
  const user = await signUpUser(hub);
  await giveConsent(hub, user.accessToken, { purpose: 'support' });
  await hub.services.db
    .insertInto('orders')
    .values([
      { id: `ord_${user.id}_1`, user_id: user.id, placed_at: new Date('2026-05-01T00:00:00Z'), total_minor: 50_000, currency: 'EUR', status: 'refunded' },
      { id: `ord_${user.id}_2`, user_id: user.id, placed_at: new Date('2026-05-02T00:00:00Z'), total_minor: 50_000, currency: 'EUR', status: 'cancelled' },
    ])
    .execute();
  return user;
}

describe('orders filters', () => {
  it('count no spend of a customer whose only orders were refunded or cancelled', async () => {
    const user = await memberWithUnspentOrders();
    // "Customers who spent at least 500 EUR", over the whole history and over May.
    expect(await ids({ orders: { minSpendMinor: 50_000 } })).not.toContain(user.id);
    expect(await ids({ orders: { from: '2026-05-01T00:00:00Z', to: '2026-06-01T00:00:00Z', minSpendMinor: 50_000 } })).not.toContain(user.id);
  });

  it('still count those orders as orders placed', async () => {
    const user = await memberWithUnspentOrders();
    expect(await ids({ orders: { minCount: 2 } })).toContain(user.id);
    expect(await ids({ orders: { from: '2026-05-01T00:00:00Z', minCount: 2 } })).toContain(user.id);
  });

  it('take a refund out of the spend as it is recorded', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'support' });
    const order = { id: `ord_${user.id}_1`, user_id: user.id, placed_at: new Date('2026-05-01T00:00:00Z'), total_minor: 70_000, currency: 'EUR', status: 'delivered' as const };
    await hub.services.db.insertInto('orders').values(order).execute();
    expect(await ids({ orders: { minSpendMinor: 50_000 } })).toContain(user.id);
    await hub.services.db.updateTable('orders').set({ status: 'refunded' }).where('id', '=', order.id).execute();
    expect(await ids({ orders: { minSpendMinor: 50_000 } })).not.toContain(user.id);
    expect(await ids({ orders: { from: '2026-05-01T00:00:00Z', minSpendMinor: 50_000 } })).not.toContain(user.id);
  });
});

describe('migration 0025', () => {
  it('puts right the spend of members written before it', async () => {
    const { error } = await createMigrator(hub.services.db).migrateTo('0024_webhook_message_person');
    expect(error).toBeUndefined();
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'support' });
    await hub.services.db
      .insertInto('orders')
      .values({ id: `ord_${user.id}_1`, user_id: user.id, placed_at: new Date('2026-05-01T00:00:00Z'), total_minor: 50_000, currency: 'EUR', status: 'refunded' })
      .execute();
    const spend = async () => (await hub.services.db.selectFrom('audience_members').select('order_spend_minor').where('user_id', '=', user.id).executeTakeFirstOrThrow()).order_spend_minor;
    expect(Number(await spend())).toBe(50_000);
    expect((await migrateToLatest(hub.services.db))[0]).toBe('0025_audience_spend_kept');
    expect(Number(await spend())).toBe(0);
  });
});
