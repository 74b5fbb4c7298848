import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { definePurpose, giveConsent } from '../helpers/oauth.js';

// A consent keeps the version of the purpose it was given under. A new version that covers more
// shows more only of the members who consented to it; one that covers less shows less of everyone.

const clock = fixedClock(new Date('2026-06-01T09:00:00.000Z'));
let hub: Hub;
let admin: string;
let tool: string;
/** Consented under version 1: profile and email. */
let early: Awaited<ReturnType<typeof signUpUser>>;
/** Consented under version 2, which adds loyalty. */
let late: Awaited<ReturnType<typeof signUpUser>>;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await clientToken(hub, ['consents:admin'], 'agt_01J0000000000000000000VADM');
  tool = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read', 'loyalty:read'], 'agt_01J0000000000000000000VTOL');
  early = await signUpUser(hub, { country: 'PT' });
  late = await signUpUser(hub, { country: 'PT' });
  await hub.services.db.updateTable('users').set({ loyalty_tier: 'gold', loyalty_points: 5_000 }).where('id', 'in', [early.id, late.id]).execute();
  expect(await definePurpose(hub, admin, 'club_news', ['profile', 'contact.email'])).toBe('1');
  await giveConsent(hub, early.accessToken, { purpose: 'club_news' });
  expect(await definePurpose(hub, admin, 'club_news', ['profile', 'contact.email', 'loyalty'])).toBe('2');
  await giveConsent(hub, late.accessToken, { purpose: 'club_news' });
});
afterAll(() => hub.close());

const QUERY = `query($f: AudienceFilter) { audience(purpose: "club_news", filter: $f) {
  totalCount edges { node { id email loyalty { tier points } } } } }`;

async function audience(filter?: Record<string, unknown>) {
  const response = await graphql<any>(hub, QUERY, { token: tool, variables: { f: filter } });
  const errors = (response.errors ?? []).map((e) => [e.path?.join('.'), `${e.extensions?.code}/${e.extensions?.reason}`]);
  return { data: response.data?.audience, errors };
}

async function exported(filter: Record<string, unknown>): Promise<{ id: string }[]> {
  const created = await graphql<any>(hub, 'mutation($i: CreateAudienceInput!) { createAudience(input: $i) { id } }', {
    token: tool,
    variables: { i: { name: `Club ${JSON.stringify(filter)}`, purpose: 'club_news', filter } },
  });
  expect(created.errors).toBeUndefined();
  const response = await hub.http.inject({ method: 'GET', url: `/audiences/${created.data.createAudience.id}/export`, headers: { authorization: `Bearer ${tool}` } });
  expect(response.statusCode).toBe(200);
  return response.body.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

const byId = <T extends { id: string }>(rows: T[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));

describe('an audience whose purpose gained a category after some consents', () => {
  it('shows the new category only of members who consented to the version that added it', async () => {
    const { data, errors } = await audience();
    expect(data.totalCount).toBe(2);
    const members = data.edges.map((e: any) => e.node);
    expect(members.find((m: any) => m.id === late.id)).toEqual({ id: late.id, email: late.email, loyalty: { tier: 'gold', points: 5_000 } });
    expect(members.find((m: any) => m.id === early.id)).toEqual({ id: early.id, email: early.email, loyalty: null });
    const earlyIndex = members.findIndex((m: any) => m.id === early.id);
    expect(errors).toEqual([[`audience.edges.${earlyIndex}.node.loyalty`, 'FORBIDDEN/PURPOSE_NOT_COVERED']]);
  });

  it('selects on the new category only among those members: the others are neither kept nor dropped by it', async () => {
    for (const filter of [{ minLoyaltyPoints: 0 }, { loyaltyTiers: ['gold'] }]) {
      const { data, errors } = await audience(filter);
      expect(errors).toEqual([]);
      expect(data.totalCount).toBe(1);
      expect(data.edges.map((e: any) => e.node.id)).toEqual([late.id]);
    }
  });

  it('exports each member with the fields its consent covers', async () => {
    expect(byId(await exported({ countries: ['PT'] }))).toEqual(
      byId([
        { id: early.id, email: early.email, country: 'PT', locale: null, createdAt: expect.any(String) },
        { id: late.id, email: late.email, country: 'PT', locale: null, createdAt: expect.any(String), loyalty: { tier: 'gold', points: 5_000 } },
      ]),
    );
    expect(await exported({ minLoyaltyPoints: 1 })).toEqual([expect.objectContaining({ id: late.id, loyalty: { tier: 'gold', points: 5_000 } })]);
  });

  it('shows less of every member once a newer version covers less, whatever version they consented to', async () => {
    expect(await definePurpose(hub, admin, 'club_news', ['profile', 'loyalty'])).toBe('3');
    const { data, errors } = await audience();
    expect(byId(data.edges.map((e: any) => e.node))).toEqual(byId([
      { id: early.id, email: null, loyalty: null },
      { id: late.id, email: null, loyalty: { tier: 'gold', points: 5_000 } },
    ]));
    expect(errors.map(([, reason]) => reason)).toEqual(['FORBIDDEN/PURPOSE_NOT_COVERED', 'FORBIDDEN/PURPOSE_NOT_COVERED', 'FORBIDDEN/PURPOSE_NOT_COVERED']);
  });
});
