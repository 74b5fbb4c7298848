import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';
import { exportOf } from './privacy-fixtures.js';

// Every refused export is audited in the trail of the person it was asked for, and every export
// reads the person's whole record: a caller's export requests count against the allowance of
// requests a second their GraphQL requests have, or one signed-up stranger could write refusals
// into someone's trail, or have their own record read over and over, as fast as the hub answers.

const clock = fixedClock('2031-03-01T09:00:00Z');
/** HUB_GRAPHQL_RATE_LIMIT: a request a second, 60 a one-minute window. */
const PER_MINUTE = 60;
let hub: Hub;

beforeAll(async () => {
  hub = await createHub(loadConfig({ ...TEST_ENV, HUB_GRAPHQL_RATE_LIMIT: '1' }), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

describe('export requests of one caller', () => {
  it('are limited as GraphQL requests are: past the allowance, 429 with Retry-After, and nothing more in the person’s trail', async () => {
    const alice = await signUpUser(hub);
    const mallory = await signUpUser(hub);
    const statuses: number[] = [];
    for (let i = 0; i < PER_MINUTE + 10; i++) statuses.push((await exportOf(hub, alice.id, mallory.accessToken)).status);
    expect(statuses.slice(0, PER_MINUTE).every((status) => status === 403)).toBe(true);
    expect(statuses.slice(PER_MINUTE)).toEqual(Array(10).fill(429));
    const limited = await exportOf(hub, alice.id, mallory.accessToken);
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expect(limited.body).toMatchObject({ error: 'too_many_requests' });
    await hub.services.audit.flush();
    const refusals = await findAuditEvents(hub.services.db, { filter: { userId: alice.id, action: 'data.exported' }, first: 100 });
    expect(refusals.edges).toHaveLength(PER_MINUTE);
    // Alice's own allowance is hers: her export is served.
    expect((await exportOf(hub, alice.id, alice.accessToken)).status).toBe(200);
  });
});
