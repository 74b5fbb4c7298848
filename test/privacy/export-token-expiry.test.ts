import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { claimsOf } from '../helpers/oauth.js';

// An export outlives the request that began it, and checks the caller's token again before each
// page as a request checks it: one the hub no longer accepts at all, past its `exp`, ends it there
// as much as one revoked does, however slowly its reader reads.

const clock = fixedClock('2031-03-01T09:00:00Z');
const ORDERS = 3_000;
let hub: Hub;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

describe('a data export whose token expires while it streams', () => {
  it('hands over no more pages once the token has expired', async () => {
    const user = await signUpUser(hub);
    await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
      select 'ord_' || ${user.id} || '_' || i, ${user.id}, ${clock.now()}::timestamptz - make_interval(mins => i), 100 + i, 'EUR', 'delivered',
        '[{"sku":"SKU-1","name":"Wool socks","quantity":2,"unitPriceMinor":50}]'::jsonb
      from generate_series(1, ${ORDERS}::int) as i`.execute(hub.services.db);
    const response = await hub.http.inject({ method: 'GET', url: `/users/${user.id}/export`, headers: { authorization: `Bearer ${user.accessToken}` }, payloadAsStream: true });
    expect(response.statusCode).toBe(200);
    const chunks = response.stream()[Symbol.asyncIterator]();
    let text = String((await chunks.next()).value);

    // Past the token's expiry and the skew allowed: every request with it is refused now.
    clock.set(new Date((claimsOf(user.accessToken).exp + 120) * 1_000));
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).status).toBe(401);

    try {
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) text += String(next.value);
    } catch {
      // Cut short.
    }
    const orders = text.match(/"ord_usr_/g)?.length ?? 0;
    // At most the pages read before the expiry; never the whole record.
    expect(orders).toBeLessThan(ORDERS);
  });
});
