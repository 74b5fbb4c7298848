import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let marketing: string;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  marketing = await marketingToken();
});
const marketingToken = () => clientToken(hub, ['audience:read', 'profile:read', 'contact:read', 'identity:read', 'preferences:read', 'loyalty:read', 'orders:read'], 'agt_01J0000000000000000000MKTG');
afterAll(() => hub.close());

type Member = { id: string; email?: string | null };
interface Page {
  ids: string[];
  endCursor: string | null;
  hasNextPage: boolean;
  totalCount?: number;
  errors?: { path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  members: Member[];
}

const AUDIENCE = `query($purpose: String!, $filter: AudienceFilter, $first: Int, $after: String) {
  audience(purpose: $purpose, filter: $filter, first: $first, after: $after) {
    edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`;

/** One page of an audience; `country` scopes a test to the users it made. */
async function page(variables: Record<string, unknown>, token = marketing): Promise<Page> {
  const response = await graphql<any>(hub, AUDIENCE, { token, variables: { purpose: 'email_marketing', ...variables } });
  if (!response.data) return { ids: [], endCursor: null, hasNextPage: false, members: [], errors: response.errors ?? [] };
  const c = response.data.audience;
  return { ids: c.edges.map((e: any) => e.node.id), members: c.edges.map((e: any) => e.node), endCursor: c.pageInfo.endCursor, hasNextPage: c.pageInfo.hasNextPage, ...(response.errors && { errors: response.errors }) };
}

/** Every member, page by page. */
async function all(filter: Record<string, unknown>, purpose = 'email_marketing'): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const p = await page({ purpose, filter, first: 2, after });
    ids.push(...p.ids);
    if (!p.hasNextPage) return ids;
    after = p.endCursor;
  }
}

async function createAudience(name: string, filter: Record<string, unknown>, purpose = 'email_marketing'): Promise<string> {
  const response = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id name purpose } }', {
    token: marketing,
    variables: { input: { name, purpose, filter } },
  });
  expect(response.errors).toBeUndefined();
  expect(response.data.createAudience).toMatchObject({ id: expect.stringMatching(/^aud_[0-9A-Z]{26}$/), name, purpose });
  return response.data.createAudience.id;
}

async function exportIds(id: string, token = marketing) {
  const response = await hub.http.inject({ method: 'GET', url: `/audiences/${id}/export`, headers: { authorization: `Bearer ${token}` } });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/x-ndjson/);
  // Personal data: no cache on the way may keep a copy.
  expect(response.headers['cache-control']).toBe('no-store');
  const lines = response.body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ids: lines.map((l) => l.id as string), lines };
}

/** `n` users of `country` who each consent to email marketing; in id order, an audience's order. */
async function optedIn(country: string, n: number, { consent, ...input }: Record<string, unknown> = {}) {
  const users = [];
  for (let i = 0; i < n; i++) {
    const user = await signUpUser(hub, { country, ...input });
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'email_marketing', ...(consent as object) });
    users.push({ ...user, consentId });
  }
  return users.sort((a, b) => (a.id < b.id ? -1 : 1));
}

const withdraw = (token: string, id: string) => graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token, variables: { id } });

describe('audience', () => {
  it('holds exactly the users with a live consent to the company for the purpose', async () => {
    const [a, b] = await optedIn('SE', 2);
    const noConsent = await signUpUser(hub, { country: 'SE' });
    const otherPurpose = await signUpUser(hub, { country: 'SE' });
    await giveConsent(hub, otherPurpose.accessToken, { purpose: 'support' });
    expect(await all({ countries: ['SE'] })).toEqual([a!.id, b!.id]);
    // support does not cover profile, so it may not select by country; no other test consents to it.
    expect(await all({}, 'support')).toEqual([otherPurpose.id]);
    expect(noConsent.id).toBeDefined();
  });

  it('drops a user who withdraws from the next page and the next export', async () => {
    const users = await optedIn('NL', 3);
    const saved = await createAudience('Dutch newsletter', { countries: ['NL'] });
    const first = await page({ filter: { countries: ['NL'] }, first: 1 });
    expect(first.ids).toEqual([users[0]!.id]);
    expect((await exportIds(saved)).ids).toEqual(users.map((u) => u.id));
    expect((await withdraw(users[1]!.accessToken, users[1]!.consentId)).data.withdrawConsent.status).toBe('WITHDRAWN');
    const next = await page({ filter: { countries: ['NL'] }, first: 5, after: first.endCursor });
    expect(next.ids).toEqual([users[2]!.id]);
    expect((await exportIds(saved)).ids).toEqual([users[0]!.id, users[2]!.id]);
  });

  it('drops an expired consent at its expiry, with no job run', async () => {
    const expiresAt = new Date(clock.now().getTime() + 3_600_000).toISOString();
    const [short] = await optedIn('JP', 1, { consent: { expiresAt } });
    const [lasting] = await optedIn('JP', 1);
    const saved = await createAudience('Japan', { countries: ['JP'] });
    expect(await all({ countries: ['JP'] })).toEqual([short!.id, lasting!.id].sort());
    clock.advance(3_601);
    // Tokens live ten minutes: the marketing tool signs in again after the hour.
    marketing = await marketingToken();
    expect(await all({ countries: ['JP'] })).toEqual([lasting!.id]);
    expect((await exportIds(saved)).ids).toEqual([lasting!.id]);
  });

  it('drops a consent at the very instant of its expiry, as the consent then reads EXPIRED', async () => {
    const expiresAt = new Date(clock.now().getTime() + 3_600_000);
    const [short] = await optedIn('KR', 1, { consent: { expiresAt: expiresAt.toISOString() } });
    const [lasting] = await optedIn('KR', 1);
    const saved = await createAudience('Korea', { countries: ['KR'] });
    expect(await all({ countries: ['KR'] })).toEqual([short!.id, lasting!.id].sort());
    clock.advance(3_600);
    expect(clock.now()).toEqual(expiresAt);
    marketing = await marketingToken();
    expect(await all({ countries: ['KR'] })).toEqual([lasting!.id]);
    const counted = await graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "email_marketing", filter: $f) { totalCount } }', { token: marketing, variables: { f: { countries: ['KR'] } } });
    expect(counted.data.audience.totalCount).toBe(1);
    expect((await exportIds(saved)).ids).toEqual([lasting!.id]);
  });

  it('never holds a suspended or erased user', async () => {
    const [suspended, erased, kept] = await optedIn('BR', 3);
    const usersAdmin = await clientToken(hub, ['users:admin'], 'agt_01J0000000000000000000USRS');
    const setStatus = async (mutation: string, id: string) => expect((await graphql(hub, `mutation($id: ID!) { ${mutation}(id: $id) { id } }`, { token: usersAdmin, variables: { id } })).errors).toBeUndefined();
    await setStatus('suspendUser', suspended!.id);
    await hub.services.db.updateTable('users').set({ status: 'erased' }).where('id', '=', erased!.id).execute();
    const saved = await createAudience('Brazil', { countries: ['BR'] });
    const count = async () => (await graphql<any>(hub, 'query { audience(purpose: "email_marketing", filter: { countries: ["BR"] }) { totalCount } }', { token: marketing })).data.audience.totalCount;
    expect(await all({ countries: ['BR'] })).toEqual([kept!.id]);
    expect(await count()).toBe(1);
    expect((await exportIds(saved)).ids).toEqual([kept!.id]);
    await setStatus('reactivateUser', suspended!.id);
    expect(await all({ countries: ['BR'] })).toEqual([suspended!.id, kept!.id]);
    expect(await count()).toBe(2);
  });

  it('resolves only fields the purpose and the token cover; the rest are null with FORBIDDEN', async () => {
    const [user] = await optedIn('IT', 1, { givenName: 'Giulia' });
    const query = `query($f: AudienceFilter) { audience(purpose: "email_marketing", filter: $f) { edges { node { id email country givenName phone address { city } } } } }`;
    const response = await graphql<any>(hub, query, { token: marketing, variables: { f: { countries: ['IT'] } } });
    expect(response.data.audience.edges).toEqual([{ node: { id: user!.id, email: user!.email, country: 'IT', givenName: null, phone: null, address: null } }]);
    const reasons = Object.fromEntries(response.errors!.map((e) => [e.path!.at(-1), e.extensions]));
    expect(reasons).toEqual({
      givenName: { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' },
      phone: { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' },
      address: { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' },
    });
    const narrow = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000NARW');
    const limited = await graphql<any>(hub, query, { token: narrow, variables: { f: { countries: ['IT'] } } });
    expect(limited.data.audience.edges[0].node).toMatchObject({ id: user!.id, email: null, country: 'IT' });
    expect(limited.errors!.find((e) => e.path!.at(-1) === 'email')!.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const saved = await createAudience('Italy', { countries: ['IT'] });
    expect((await exportIds(saved)).lines).toEqual([{ id: user!.id, email: user!.email, locale: null, country: 'IT', createdAt: expect.any(String), preferences: expect.any(Object) }]);
  });

  it('exports only the fields the exporting token covers too, though the purpose covers more', async () => {
    const [user] = await optedIn('MT', 1);
    const saved = await createAudience('Malta', { countries: ['MT'] });
    // The saving client, with a token that no longer carries contact:read or preferences:read.
    const narrowed = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000MKTG');
    expect((await exportIds(saved, narrowed)).lines).toEqual([{ id: user!.id, locale: null, country: 'MT', createdAt: expect.any(String) }]);
  });

  it('reads the member fields a query asks for through fragments, aliases and directives', async () => {
    const [user] = await optedIn('SE', 1, { locale: 'sv-SE' });
    const query = `query($f: AudienceFilter, $withLocale: Boolean!) { audience(purpose: "email_marketing", filter: $f, first: 50) {
      count: totalCount
      edges { node { id mail: email ...Place ... on AudienceMember { locale @include(if: $withLocale) } } } } }
      fragment Place on AudienceMember { country createdAt }`;
    const response = await graphql<any>(hub, query, { token: marketing, variables: { f: { countries: ['SE'] }, withLocale: true } });
    expect(response.errors).toBeUndefined();
    const node = response.data.audience.edges.find((e: any) => e.node.id === user!.id).node;
    expect(node).toEqual({ id: user!.id, mail: user!.email, country: 'SE', createdAt: expect.any(String), locale: 'sv-SE' });
    expect(response.data.audience.count).toBe(response.data.audience.edges.length);
  });

  it('exports each member as the audience query shows it', async () => {
    const [user] = await optedIn('US', 1, { locale: 'en-US', givenName: 'Lucía' });
    await hub.services.db.updateTable('users').set({ preferences: JSON.stringify({ interests: ['yoga', 'café "solo"'], channels: ['email'], sizes: { shoe: '38' } }) }).where('id', '=', user!.id).execute();
    const query = `query($f: AudienceFilter) { audience(purpose: "email_marketing", filter: $f, first: 100) {
      edges { node { id email locale country createdAt preferences { interests channels tags sizes { kind value } } } } } }`;
    const shown = await graphql<any>(hub, query, { token: marketing, variables: { f: { countries: ['US'] } } });
    const node = shown.data.audience.edges.find((e: any) => e.node.id === user!.id).node;
    const saved = await createAudience('United States', { countries: ['US'] });
    const line = (await exportIds(saved)).lines.find((l) => l.id === user!.id)!;
    expect(Object.keys(line)).toEqual(['id', 'email', 'locale', 'country', 'createdAt', 'preferences']);
    expect({ ...line, preferences: undefined }).toEqual({ ...node, preferences: undefined });
    expect(line.preferences).toEqual({ interests: ['yoga', 'café "solo"'], channels: ['email'], sizes: { shoe: '38' } });
    expect(line.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('treats filter values with SQL metacharacters as plain values', async () => {
    const [member] = await optedIn('ES', 1);
    // Tiers are loyalty data, which email_marketing does not cover.
    await giveConsent(hub, member!.accessToken, { purpose: 'loyalty_offers' });
    const nasty = ["x') or 1=1 --", "'; drop table users; --", '%', '\\', '"', '$1'];
    // Interests, channels, locales and tiers are checked as the profile holds them.
    for (const key of ['interestsAny', 'channelsAny', 'locales', 'loyaltyTiers']) {
      const p = await page({ purpose: 'loyalty_offers', filter: { countries: ['ES'], [key]: nasty }, first: 10 });
      expect(p.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: `filter.${key}.0` });
    }
    const bad = await page({ filter: { countries: ["ES' or '1'='1"] } });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.countries.0' });
    expect(await all({ countries: ['ES'] })).toHaveLength(1);
    const { count } = await hub.services.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    expect(Number(count)).toBeGreaterThan(0);
  });

  it('refuses a date outside the years 1 to 9999 (in UTC) in every date key, and saves no such filter', async () => {
    const year0 = '0000-06-01T00:00:00Z';
    const filters: [Record<string, unknown>, string][] = [
      [{ signedUpAfter: year0 }, 'signedUpAfter'],
      [{ signedUpBefore: year0 }, 'signedUpBefore'],
      [{ lastOrderAfter: year0 }, 'lastOrderAfter'],
      [{ lastOrderBefore: year0 }, 'lastOrderBefore'],
      [{ orders: { from: year0, minCount: 1 } }, 'orders.from'],
      [{ orders: { to: year0, minCount: 1 } }, 'orders.to'],
      // Years 1 and 9999 as written, 0 and 10000 once in UTC.
      [{ signedUpAfter: '0001-01-01T00:30:00+01:00' }, 'signedUpAfter'],
      [{ signedUpBefore: '9999-12-31T23:30:00-01:00' }, 'signedUpBefore'],
    ];
    const audiencesBefore = await hub.services.db.selectFrom('saved_audiences').select('id').execute();
    for (const [filter, key] of filters) {
      const queried = await page({ purpose: 'loyalty_offers', filter });
      expect(queried.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: `filter.${key}` });
      const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
        token: marketing,
        variables: { input: { name: 'Year zero', purpose: 'loyalty_offers', filter } },
      });
      expect(created.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: `input.filter.${key}` });
    }
    expect(await hub.services.db.selectFrom('saved_audiences').select('id').execute()).toEqual(audiencesBefore);
    const edges = { signedUpAfter: '0001-01-01T00:00:00Z', signedUpBefore: '9999-12-31T23:59:59.999Z', orders: { from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59Z', minCount: 0 } };
    expect((await page({ purpose: 'loyalty_offers', filter: edges })).errors).toBeUndefined();
  });

  it('refuses a caller without audience:read, in GraphQL and on the export', async () => {
    const saved = await createAudience('Refused', {});
    const other = await clientToken(hub, ['users:admin', 'contact:read'], 'agt_01J0000000000000000000NOAU');
    expect((await page({}, other)).errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const user = await signUpUser(hub);
    expect((await page({}, user.accessToken)).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    const anonymous = await graphql<any>(hub, AUDIENCE, { variables: { purpose: 'email_marketing' } });
    expect(anonymous.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
    const forbidden = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${other}` } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.headers['www-authenticate']).toMatch(/insufficient_scope/);
    expect((await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export` })).statusCode).toBe(401);
    expect((await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
    expect((await hub.http.inject({ method: 'GET', url: '/audiences/aud_01J00000000000000000000000/export', headers: { authorization: `Bearer ${marketing}` } })).statusCode).toBe(404);
  });

  it('pages correctly while consents change under it', async () => {
    const users = await optedIn('FR', 5);
    const first = await page({ filter: { countries: ['FR'] }, first: 2 });
    expect(first.ids).toEqual([users[0]!.id, users[1]!.id]);
    // Behind the cursor, ahead of it, and a newcomer, whose random id falls on either side.
    await withdraw(users[0]!.accessToken, users[0]!.consentId);
    await withdraw(users[3]!.accessToken, users[3]!.consentId);
    const [late] = await optedIn('FR', 1);
    const ahead = [users[2]!.id, users[4]!.id, late!.id].filter((id) => id > users[1]!.id).sort();
    const second = await page({ filter: { countries: ['FR'] }, first: 2, after: first.endCursor });
    expect(second.ids).toEqual(ahead.slice(0, 2));
    const third = await page({ filter: { countries: ['FR'] }, first: 2, after: second.endCursor });
    expect(third).toMatchObject({ ids: ahead.slice(2), hasNextPage: false });
  });

  it('filters on profile, preferences, loyalty, age, orders and sign-up, and counts when asked', async () => {
    const users = await optedIn('DE', 3, { consent: { purpose: 'loyalty_offers' } });
    const db = hub.services.db;
    await db.updateTable('users').set({ loyalty_tier: 'gold', loyalty_points: 7_000, birthdate: '1990-06-01', preferences: JSON.stringify({ interests: ['running', 'coffee'], channels: ['email'] }) }).where('id', '=', users[0]!.id).execute();
    await db.updateTable('users').set({ loyalty_tier: 'bronze', birthdate: '1960-06-01' }).where('id', '=', users[1]!.id).execute();
    await db.insertInto('orders').values({ id: 'ord_01J00000000000000000000001', user_id: users[1]!.id, placed_at: clock.now(), total_minor: 12_000, currency: 'EUR', status: 'paid', line_items: '[]' }).execute();
    const ids = (filter: Record<string, unknown>) => all({ countries: ['DE'], ...filter }, 'loyalty_offers');
    expect(await ids({ loyaltyTiers: ['GOLD', 'platinum'] })).toEqual([users[0]!.id]);
    expect(await ids({ minLoyaltyPoints: 5_000 })).toEqual([users[0]!.id]);
    expect(await ids({ interestsAny: ['yoga', 'running'] })).toEqual([users[0]!.id]);
    expect(await ids({ channelsAny: ['email'] })).toEqual([users[0]!.id]);
    const age = new Date(clock.now()).getUTCFullYear() - 1990;
    expect(await ids({ ageMin: age - 1, ageMax: age })).toEqual([users[0]!.id]);
    expect(await ids({ orders: { minCount: 1 } })).toEqual([users[1]!.id]);
    const hour = 3_600_000;
    const period = { from: new Date(clock.now().getTime() - hour).toISOString(), to: new Date(clock.now().getTime() + hour).toISOString() };
    expect(await ids({ orders: { ...period, minSpendMinor: 10_000 } })).toEqual([users[1]!.id]);
    expect(await ids({ orders: { ...period, minSpendMinor: 20_000 } })).toEqual([]);
    expect(await ids({ lastOrderAfter: period.from })).toEqual([users[1]!.id]);
    expect(await ids({ signedUpAfter: new Date(clock.now().getTime() - hour).toISOString() })).toEqual(users.map((u) => u.id));
    const counted = await graphql<any>(hub, 'query { audience(purpose: "loyalty_offers", filter: { countries: ["DE"] }, first: 0) { totalCount edges { cursor } } }', { token: marketing });
    expect(counted.data.audience).toEqual({ totalCount: 3, edges: [] });
    // As every list's, `hasNextPage` of no members asked for says whether any follow.
    const probed = (countries: string[]) =>
      graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "loyalty_offers", filter: $f, first: 0) { pageInfo { hasNextPage endCursor } } }', { token: marketing, variables: { f: { countries } } });
    expect((await probed(['DE'])).data.audience.pageInfo).toEqual({ hasNextPage: true, endCursor: null });
    expect((await probed(['IS'])).data.audience.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
  });

  it('selects on spend past 32 bits, which currencies with small minor units reach', async () => {
    const users = await optedIn('ID', 2, { consent: { purpose: 'loyalty_offers' } });
    // IDR 30,000,000.00 in minor units: past 2^31.
    await hub.services.db
      .insertInto('orders')
      .values({ id: 'ord_01J00000000000000000000002', user_id: users[0]!.id, placed_at: clock.now(), total_minor: 3_000_000_000, currency: 'IDR', status: 'paid', line_items: '[]' })
      .execute();
    const ids = (filter: Record<string, unknown>) => all({ countries: ['ID'], ...filter }, 'loyalty_offers');
    const hour = 3_600_000;
    const period = { from: new Date(clock.now().getTime() - hour).toISOString(), to: new Date(clock.now().getTime() + hour).toISOString() };
    expect(await ids({ orders: { ...period, minSpendMinor: 2_500_000_000 } })).toEqual([users[0]!.id]);
    expect(await ids({ orders: { minSpendMinor: 3_000_000_000 } })).toEqual([users[0]!.id]);
    expect(await ids({ orders: { minSpendMinor: 3_000_000_001 } })).toEqual([]);
  });

  it('allows pages of up to 1,000 and refuses more', async () => {
    expect((await page({ first: 1_000 })).errors).toBeUndefined();
    expect((await page({ first: 1_001 })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    expect((await page({ purpose: 'no_such_purpose' })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'purpose' });
  });

  it('audits every query and export with the purpose and the number of members', async () => {
    await optedIn('GB', 2);
    const saved = await createAudience('UK', { countries: ['GB'] });
    await page({ filter: { countries: ['GB'] }, first: 1 });
    // Counted, not listed: no member is returned.
    const counted = await graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "email_marketing", filter: $f) { totalCount } }', { token: marketing, variables: { f: { countries: ['GB', 'IE'] } } });
    expect(counted.data.audience.totalCount).toBeGreaterThanOrEqual(2);
    await exportIds(saved);
    await hub.services.audit.flush();
    const events = await hub.services.db
      .selectFrom('audit_events')
      .select(['action', 'purpose', 'detail', 'client_id'])
      .where('action', 'in', ['audience.queried', 'audience.exported'])
      .execute();
    const aboutUk = events.filter((e) => JSON.stringify((e.detail as any).filter) === '{"countries":["GB"]}');
    expect(aboutUk.map((e) => [e.action, e.purpose, (e.detail as any).members])).toEqual(
      expect.arrayContaining([
        ['audience.queried', 'email_marketing', 1],
        ['audience.exported', 'email_marketing', 2],
      ]),
    );
    const countOnly = events.filter((e) => JSON.stringify((e.detail as any).filter) === '{"countries":["GB","IE"]}');
    expect(countOnly.map((e) => [e.action, (e.detail as any).members])).toEqual([['audience.queried', 0]]);
  });

  it('audits what each query and export read: the member fields shown, and those its filter selects on; and the fields refused', async () => {
    await optedIn('PT', 1, { consent: { purpose: 'loyalty_offers' } });
    const filter = { countries: ['PT'], minLoyaltyPoints: 0 };
    const headers = (requestId: string) => ({ 'x-request-id': requestId });
    // phone is refused: loyalty_offers covers contact.email only.
    const listed = await graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "loyalty_offers", filter: $f) { edges { node { id email phone birthdate } } } }', {
      token: marketing,
      variables: { f: filter },
      headers: headers('read-listed'),
    });
    expect(listed.errors?.map((e: any) => e.extensions.reason)).toEqual(['PURPOSE_NOT_COVERED']);
    const counted = await graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "loyalty_offers", filter: $f) { totalCount } }', { token: marketing, variables: { f: filter }, headers: headers('read-counted') });
    expect(counted.data.audience.totalCount).toBe(1);
    const saved = await createAudience('Portugal', { countries: ['PT'] }, 'loyalty_offers');
    const exported = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${marketing}`, ...headers('read-exported') } });
    expect(exported.statusCode).toBe(200);
    await hub.services.audit.flush();
    const events = await hub.services.db
      .selectFrom('audit_events')
      .select(['request_id', 'action', 'fields_read', 'fields_denied', 'detail'])
      .where('request_id', 'in', ['read-listed', 'read-counted', 'read-exported'])
      .orderBy('occurred_at')
      .orderBy('id')
      .execute();
    // AudienceMember.id is a member field shown (every edge's cursor holds it too), though no scope covers it.
    expect(events.map((e) => [e.request_id, e.action, e.fields_read, e.fields_denied, (e.detail as any).members])).toEqual([
      ['read-listed', 'audience.queried', ['birthdate', 'country', 'email', 'id', 'loyalty'], ['phone'], 1],
      ['read-counted', 'audience.queried', ['country', 'loyalty'], [], 0],
      ['read-exported', 'audience.exported', ['birthdate', 'country', 'createdAt', 'email', 'id', 'locale', 'loyalty', 'preferences'], [], 1],
    ]);
  });

  it('audits a page or an export that shows no member as reading only what its filter selects on', async () => {
    const filter = { countries: ['IS'] };
    const headers = { 'x-request-id': 'read-nobody' };
    const listed = await graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "email_marketing", filter: $f) { edges { node { id email locale } } } }', { token: marketing, variables: { f: filter }, headers });
    expect(listed.data.audience.edges).toEqual([]);
    const saved = await createAudience('Iceland', filter);
    const exported = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${marketing}`, ...headers } });
    expect([exported.statusCode, exported.body]).toEqual([200, '']);
    await hub.services.audit.flush();
    const events = await hub.services.db.selectFrom('audit_events').select(['action', 'fields_read', 'detail']).where('request_id', '=', 'read-nobody').orderBy('occurred_at').orderBy('id').execute();
    expect(events.map((e) => [e.action, e.fields_read, (e.detail as any).members])).toEqual([
      ['audience.queried', ['country'], 0],
      ['audience.exported', ['country'], 0],
    ]);
  });
});
