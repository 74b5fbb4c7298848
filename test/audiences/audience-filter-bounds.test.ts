import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

// An `…After` includes its instant and a `…Before` does not, as the schema says: a marketer who
// ends one campaign's period where the next begins selects each customer in exactly one of them.

const clock = fixedClock(new Date('2026-06-01T09:00:00.000Z'));
const AT = new Date('2026-05-01T00:00:00.000Z');
const ONE_MS = 1;
let hub: Hub;
let tool: string;
/** Members by how far (ms) from AT they signed up and placed their last order. */
const offsetOf = new Map<string, number>();
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  tool = await clientToken(hub, ['audience:read', 'profile:read', 'orders:read'], 'agt_01J0000000000000000000BNDS');
  for (const offset of [-ONE_MS, 0, ONE_MS]) {
    const user = await signUpUser(hub);
    const at = new Date(AT.getTime() + offset);
    await sql`update users set created_at = ${at} where id = ${user.id}`.execute(hub.services.db);
    await hub.services.db.insertInto('orders').values({ id: `ord_${user.id}`, user_id: user.id, placed_at: at, total_minor: 1_000, currency: 'EUR', status: 'delivered' }).execute();
    for (const purpose of ['support', 'email_marketing']) await giveConsent(hub, user.accessToken, { purpose });
    offsetOf.set(user.id, offset);
  }
});
afterAll(() => hub.close());

/** The members' offsets from AT that the filter keeps, in order; `support` covers orders, `email_marketing` the profile. */
async function offsets(filter: Record<string, unknown>, purpose = 'support'): Promise<number[]> {
  const response = await graphql<any>(hub, 'query($p: String!, $f: AudienceFilter) { audience(purpose: $p, filter: $f, first: 100) { edges { node { id } } } }', { token: tool, variables: { p: purpose, f: filter } });
  expect(response.errors).toBeUndefined();
  return response.data.audience.edges.flatMap((e: { node: { id: string } }) => offsetOf.get(e.node.id) ?? []).sort((a: number, b: number) => a - b);
}

describe('the audience filter at a bound', () => {
  it('selects a sign-up at the instant of signedUpAfter, and not at that of signedUpBefore', async () => {
    expect(await offsets({ signedUpAfter: AT.toISOString() }, 'email_marketing')).toEqual([0, ONE_MS]);
    expect(await offsets({ signedUpBefore: AT.toISOString() }, 'email_marketing')).toEqual([-ONE_MS]);
  });

  it('selects a last order at the instant of lastOrderAfter, and not at that of lastOrderBefore', async () => {
    expect(await offsets({ lastOrderAfter: AT.toISOString() })).toEqual([0, ONE_MS]);
    expect(await offsets({ lastOrderBefore: AT.toISOString() })).toEqual([-ONE_MS]);
  });

  it('counts an order placed at a period’s `from` in it, and one at its `to` in the next', async () => {
    expect(await offsets({ orders: { from: AT.toISOString(), minCount: 1 } })).toEqual([0, ONE_MS]);
    expect(await offsets({ orders: { to: AT.toISOString(), minCount: 1 } })).toEqual([-ONE_MS]);
  });
});
