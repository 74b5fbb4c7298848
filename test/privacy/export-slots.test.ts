import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { MAX_CONCURRENT_EXPORTS } from '../../src/privacy/export.routes.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';
import { exportOf } from './privacy-fixtures.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

/** Orders enough that an export no one reads stalls on its full buffers instead of finishing. */
async function withManyOrders(userId: string) {
  await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
    select 'ord_' || ${userId} || '_' || i, ${userId}, ${clock.now()}::timestamptz - make_interval(mins => i), 100 + i, 'EUR', 'delivered',
      '[{"sku":"SKU-1","name":"Wool socks","quantity":2,"unitPriceMinor":50}]'::jsonb
    from generate_series(1, 3000) as i`.execute(hub.services.db);
}

/** GET /users/:id/export with the body left unread, as a client that stops reading leaves it. */
async function unreadExport(userId: string, token: string) {
  return hub.http.inject({ method: 'GET', url: `/users/${userId}/export`, headers: { authorization: `Bearer ${token}` }, payloadAsStream: true });
}

/** Reads the rest of an export left unread, so that it ends and frees its slot. */
async function drain(response: Awaited<ReturnType<typeof unreadExport>>) {
  for await (const _chunk of response.stream()) {
    // Read to the end.
  }
}

describe('export slots', () => {
  it('keep one caller who stops reading from taking every slot of the instance', async () => {
    const mallory = await signUpUser(hub);
    await withManyOrders(mallory.id);
    const alice = await signUpUser(hub);

    const held = [await unreadExport(mallory.id, mallory.accessToken)];
    expect(held[0]!.statusCode).toBe(200);
    for (let i = 1; i < MAX_CONCURRENT_EXPORTS; i++) {
      const more = await unreadExport(mallory.id, mallory.accessToken);
      if (more.statusCode === 200) held.push(more);
      else expect(more.statusCode).toBe(429);
    }

    const own = await exportOf(hub, alice.id, alice.accessToken);
    expect(own.status).toBe(200);
    expect(own.body.subject).toBe(alice.id);
    expect(held).toHaveLength(1);

    for (const response of held) await drain(response);
    const again = await exportOf(hub, mallory.id, mallory.accessToken);
    expect(again.status).toBe(200);
    expect(again.body.orders).toHaveLength(3000);
  });
});
