import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { encodeCursor } from '../../src/shared/pagination.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

/**
 * Filter values are read as the profile stores them, and a filter that could select no one for a
 * reason the caller can fix (a value no profile holds, a range that holds nothing, a cursor of
 * another list) is refused, naming the key, rather than answered with an empty audience.
 */
describe('audience filter values', () => {
  const clock = fixedClock(new Date('2026-06-15T12:00:00Z'));
  let hub: Hub;
  let marketing: string;

  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
    marketing = await clientToken(hub, ['audience:read', 'profile:read', 'preferences:read', 'loyalty:read', 'orders:read', 'identity:read'], 'agt_01J0000000000000000000FVAL');
  });
  afterAll(() => hub.close());

  const AUDIENCE = `query($purpose: String!, $filter: AudienceFilter, $first: Int, $after: String) {
    audience(purpose: $purpose, filter: $filter, first: $first, after: $after) { totalCount edges { node { id } } pageInfo { endCursor } } }`;

  async function audience(filter: Record<string, unknown>, options: { purpose?: string; after?: string } = {}) {
    const { purpose = 'loyalty_offers', after } = options;
    const r = await graphql<{ audience: { totalCount: number; edges: { node: { id: string } }[]; pageInfo: { endCursor: string | null } } }>(hub, AUDIENCE, {
      token: marketing,
      variables: { purpose, filter, first: 100, after },
    });
    return { ids: r.data?.audience.edges.map((e) => e.node.id), totalCount: r.data?.audience.totalCount, endCursor: r.data?.audience.pageInfo.endCursor, errors: r.errors };
  }

  /** A customer of `country` opted in to loyalty offers, with these profile changes. */
  async function member(country: string, profile: Record<string, unknown> = {}, signUp: Record<string, unknown> = {}) {
    const user = await signUpUser(hub, { country, ...signUp });
    if (Object.keys(profile).length > 0) {
      const r = await graphql(hub, 'mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { id } }', { token: user.accessToken, variables: { i: profile } });
      expect(r.errors).toBeUndefined();
    }
    await giveConsent(hub, user.accessToken, { purpose: 'loyalty_offers' });
    return user;
  }

  it('select by locale and interest in any form the profile takes them in', async () => {
    const swede = await member('SE', { preferences: { interests: ['Running'] } }, { locale: 'sv-SE' });
    for (const filter of [{ locales: ['sv-se'] }, { locales: ['SV-se'] }, { interestsAny: [' RUNNING '] }, { interestsAny: ['running'] }]) {
      const found = await audience({ countries: ['se'], ...filter });
      expect({ filter, ...found }).toMatchObject({ filter, ids: [swede.id], totalCount: 1 });
    }
    const saved = await graphql<{ createAudience: { members: { edges: { node: { id: string } }[] } } }>(
      hub,
      'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { members(first: 10) { edges { node { id } } } } }',
      { token: marketing, variables: { input: { name: 'Swedes', purpose: 'loyalty_offers', filter: { locales: ['sv-se'] } } } },
    );
    expect(saved.data?.createAudience.members.edges.map((e) => e.node.id)).toEqual([swede.id]);
  });

  it('refuse a value no profile can hold, naming it', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ countries: ['XX'] }, 'filter.countries.0', 'must be an ISO 3166-1 alpha-2 country code'],
      [{ locales: ['en', 'not a tag'] }, 'filter.locales.1', 'must be a BCP 47 language tag such as en-GB'],
      [{ channelsAny: ['carrier-pigeon'] }, 'filter.channelsAny.0', 'must be one of email, sms, push, post'],
      [{ channelsAny: ['Email'] }, 'filter.channelsAny.0', 'must be one of email, sms, push, post'],
      [{ interestsAny: ['a;b'] }, 'filter.interestsAny.0', 'must be 1 to 50 letters, digits, spaces, _ or -'],
      [{ loyaltyTiers: ['diamond'] }, 'filter.loyaltyTiers.0', 'must be one of bronze, silver, gold, platinum'],
      [{ loyaltyTiers: ['gold', ' gold'] }, 'filter.loyaltyTiers.1', 'must be one of bronze, silver, gold, platinum'],
      [{ loyaltyTiers: ['gold\u202e'] }, 'filter.loyaltyTiers.0', 'must be one of bronze, silver, gold, platinum'],
    ];
    for (const [filter, field, problem] of cases) {
      const { errors } = await audience(filter);
      expect(errors?.[0], JSON.stringify(filter)).toMatchObject({ message: `${field}: ${problem}`, extensions: { code: 'BAD_USER_INPUT', field } });
    }
    const saved = await graphql(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
      token: marketing,
      variables: { input: { name: 'Diamonds', purpose: 'loyalty_offers', filter: { loyaltyTiers: ['diamond'] } } },
    });
    expect(saved.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.filter.loyaltyTiers.0' });
  });

  it('refuse bounds that hold nothing, naming the later key; a one-year age band is fine', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ageMin: 60, ageMax: 20 }, 'filter.ageMax'],
      [{ signedUpAfter: '2026-01-01T00:00:00Z', signedUpBefore: '2026-01-01T00:00:00Z' }, 'filter.signedUpBefore'],
      [{ lastOrderAfter: '2026-02-01T00:00:00Z', lastOrderBefore: '2026-01-01T00:00:00Z' }, 'filter.lastOrderBefore'],
      [{ orders: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z', minCount: 1 } }, 'filter.orders.to'],
      // A period that ends where it begins holds nothing either: its end is not in it.
      [{ lastOrderAfter: '2026-01-01T00:00:00Z', lastOrderBefore: '2026-01-01T00:00:00Z' }, 'filter.lastOrderBefore'],
      [{ orders: { from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } }, 'filter.orders.to'],
    ];
    for (const [filter, field] of cases) {
      const { errors } = await audience(filter);
      expect(errors?.[0]?.extensions, JSON.stringify(filter)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const thirty = await member('IS', { birthdate: '1996-01-01' });
    expect((await audience({ countries: ['IS'], ageMin: 30, ageMax: 30 })).ids).toEqual([thirty.id]);
  });

  it('refuse a list or a number past its limits, naming the key; a list of 50 is fine', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ locales: Array.from({ length: 51 }, () => 'en') }, 'filter.locales'],
      [{ countries: [] }, 'filter.countries'],
      [{ interestsAny: [] }, 'filter.interestsAny'],
      [{ minLoyaltyPoints: 1_000_000_001 }, 'filter.minLoyaltyPoints'],
      [{ orders: { minCount: 1_000_000_001 } }, 'filter.orders.minCount'],
      [{ ageMin: -1 }, 'filter.ageMin'],
      [{ ageMax: -1 }, 'filter.ageMax'],
      [{ ageMax: 151 }, 'filter.ageMax'],
    ];
    for (const [filter, field] of cases) {
      const { errors } = await audience(filter);
      expect(errors?.[0]?.extensions, JSON.stringify(filter)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const dane = await member('DK', {}, { locale: 'da-DK' });
    const locales = [...Array.from({ length: 49 }, () => 'en'), 'da-dk'];
    expect(await audience({ countries: ['DK'], locales, minLoyaltyPoints: 0, ageMin: 0 })).toMatchObject({ ids: [], errors: undefined });
    expect(await audience({ countries: ['DK'], locales })).toMatchObject({ ids: [dane.id], errors: undefined });
  });

  it('select a member matching any value of a list, and one at a minimum of spend exactly', async () => {
    const maltese = await member('MT', { preferences: { channels: ['sms'] } });
    const cypriot = await member('CY', { preferences: { channels: ['email', 'push'] } });
    await hub.services.db
      .insertInto('orders')
      .values({ id: 'ord_01J0000000000000000000FV03', user_id: maltese.id, placed_at: new Date('2026-06-01T00:00:00Z'), total_minor: 5_000, currency: 'EUR', status: 'paid', line_items: '[]' })
      .execute();
    const sorted = (ids: string[]) => [...ids].sort();
    const both = { countries: ['MT', 'CY'] };
    expect((await audience(both)).ids).toEqual(sorted([maltese.id, cypriot.id]));
    expect((await audience({ ...both, channelsAny: ['sms', 'push'] })).ids).toEqual(sorted([maltese.id, cypriot.id]));
    expect((await audience({ ...both, channelsAny: ['push', 'post'] })).ids).toEqual([cypriot.id]);
    const period = { from: '2026-01-01T00:00:00Z', to: '2026-07-01T00:00:00Z' };
    expect((await audience({ ...both, orders: { ...period, minSpendMinor: 5_000 } })).ids).toEqual([maltese.id]);
    expect((await audience({ ...both, orders: { ...period, minSpendMinor: 5_001 } })).ids).toEqual([]);
    // A bound of the period given as null is not set, as every key of the filter.
    expect(await audience({ ...both, orders: { from: period.from, to: null } })).toMatchObject({ ids: [maltese.id], errors: undefined });
    expect(await audience({ ...both, orders: { from: null, to: period.to, minSpendMinor: null } })).toMatchObject({ ids: [maltese.id], errors: undefined });
  });

  it('take an orders period with no minimum as having ordered in it, and `orders: {}` as having ordered at all', async () => {
    const recent = await member('LU');
    const earlier = await member('LU');
    const never = await member('LU');
    const order = (id: string, userId: string, placedAt: string) => ({ id, user_id: userId, placed_at: new Date(placedAt), total_minor: 5_000, currency: 'EUR', status: 'paid' as const, line_items: '[]' });
    await hub.services.db
      .insertInto('orders')
      .values([order('ord_01J0000000000000000000FV01', recent.id, '2026-06-01T00:00:00Z'), order('ord_01J0000000000000000000FV02', earlier.id, '2025-06-01T00:00:00Z')])
      .execute();
    const sorted = (ids: string[]) => [...ids].sort();
    expect((await audience({ countries: ['LU'], orders: { from: '2026-01-01T00:00:00Z' } })).ids).toEqual([recent.id]);
    expect((await audience({ countries: ['LU'], orders: { to: '2026-01-01T00:00:00Z' } })).ids).toEqual([earlier.id]);
    expect((await audience({ countries: ['LU'], orders: {} })).ids).toEqual(sorted([recent.id, earlier.id]));
    expect((await audience({ countries: ['LU'], orders: { minCount: 0 } })).ids).toEqual(sorted([recent.id, earlier.id, never.id]));
  });

  it('refuse a cursor of another list, or one the hub did not make, as a position', async () => {
    await graphql(hub, 'mutation { createAudience(input: { name: "a", purpose: "loyalty_offers" }) { id } }', { token: marketing });
    await graphql(hub, 'mutation { createAudience(input: { name: "b", purpose: "loyalty_offers" }) { id } }', { token: marketing });
    const saved = await graphql<{ savedAudiences: { pageInfo: { endCursor: string } } }>(hub, '{ savedAudiences(first: 1) { pageInfo { endCursor } } }', { token: marketing });
    const savedCursor = saved.data!.savedAudiences.pageInfo.endCursor;
    for (const after of [savedCursor, encodeCursor(['hello']), encodeCursor(['usr_'])]) {
      expect((await audience({}, { after })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    }
    const first = await audience({});
    expect(first.endCursor).toEqual(expect.any(String));
    const listedFrom = await graphql(hub, 'query($after: String) { savedAudiences(after: $after) { edges { node { id } } } }', { token: marketing, variables: { after: first.endCursor } });
    expect(listedFrom.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    // The users list is keyed by a user id too: neither takes the other's cursor.
    const admin = await clientToken(hub, ['users:admin'], 'agt_01J0000000000000000000USRS');
    const users = await graphql<any>(hub, '{ users(first: 1) { pageInfo { endCursor } } }', { token: admin });
    expect((await audience({}, { after: users.data.users.pageInfo.endCursor })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    const usersFrom = await graphql(hub, 'query($after: String) { users(after: $after) { edges { node { id } } } }', { token: admin, variables: { after: first.endCursor } });
    expect(usersFrom.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });
});
