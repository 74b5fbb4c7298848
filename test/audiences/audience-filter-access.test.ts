import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { exportSavedAudience } from '../../src/audiences/audience.export.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

// A filter selects on a field as surely as it shows it: narrowed until it keeps or drops one
// member, it answers for that member. So each key is allowed only where its field would resolve.

// Born 1987-03-04: 39 on this day.
const clock = fixedClock(new Date('2026-06-01T09:00:00.000Z'));
let hub: Hub;
let admin: string;
/** A marketing tool with `audience:read profile:read`, nothing else. */
let narrow: string;
/** A tool that holds every read scope a filter can need. */
let broad: string;
let member: { id: string; accessToken: string };
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await clientToken(hub, ['consents:admin'], 'agt_01J0000000000000000000FADM');
  narrow = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000FNRW');
  broad = await clientToken(hub, ['audience:read', ...READ_SCOPES], 'agt_01J0000000000000000000FBRD');
  member = await signUpUser(hub, { country: 'PT' });
  const db = hub.services.db;
  await db
    .updateTable('users')
    .set({ birthdate: '1987-03-04', loyalty_tier: 'platinum', loyalty_points: 42_000, preferences: JSON.stringify({ interests: ['cycling'], channels: ['email'] }) })
    .where('id', '=', member.id)
    .execute();
  await db
    .insertInto('orders')
    .values({ id: 'ord_01J0000000000000000000FORD', user_id: member.id, placed_at: new Date('2026-05-20T12:00:00Z'), total_minor: 123_456, currency: 'EUR', status: 'paid', line_items: '[]' })
    .execute();
  await giveConsent(hub, member.accessToken, { purpose: 'email_marketing' });
});
afterAll(() => hub.close());

const READ_SCOPES = ['profile', 'contact', 'identity', 'address', 'preferences', 'orders', 'payment', 'loyalty'].map((c) => `${c}:read`);

/** The field each filter key reads, as `category.field`, with a value that keeps the member. */
const KEYS: Record<string, { reads: string; value: unknown }> = {
  countries: { reads: 'profile.country', value: ['PT'] },
  locales: { reads: 'profile.locale', value: ['pt-PT'] },
  loyaltyTiers: { reads: 'loyalty.loyalty', value: ['platinum'] },
  minLoyaltyPoints: { reads: 'loyalty.loyalty', value: 42_000 },
  interestsAny: { reads: 'preferences.preferences', value: ['cycling'] },
  channelsAny: { reads: 'preferences.preferences', value: ['email'] },
  ageMin: { reads: 'identity.birthdate', value: 39 },
  ageMax: { reads: 'identity.birthdate', value: 39 },
  lastOrderAfter: { reads: 'orders.orders', value: '2026-05-01T00:00:00Z' },
  lastOrderBefore: { reads: 'orders.orders', value: '2026-06-01T00:00:00Z' },
  orders: { reads: 'orders.orders', value: { minSpendMinor: 123_456 } },
  signedUpAfter: { reads: 'profile.createdAt', value: '2026-01-01T00:00:00Z' },
  signedUpBefore: { reads: 'profile.createdAt', value: '2027-01-01T00:00:00Z' },
};

async function definePurpose(key: string, dataCategories: string[]): Promise<void> {
  const response = await graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { key } }', {
    token: admin,
    variables: { i: { key, title: key, description: `Test purpose ${key}.`, lawfulBasis: 'CONSENT', dataCategories, noticeUrl: `https://hub.example/notices/${key}`, noticeText: `We use ${dataCategories.join(', ')}.` } },
  });
  expect(response.errors).toBeUndefined();
}

/** An audience query's answer as a client sees it: the data, and each error's message and extensions. */
async function audience(token: string, filter: Record<string, unknown>, { purpose = 'email_marketing', select = 'edges { node { id } }' } = {}) {
  const response = await graphql<any>(hub, `query($p: String!, $f: AudienceFilter) { audience(purpose: $p, filter: $f) { ${select} } }`, {
    token,
    variables: { p: purpose, f: filter },
  });
  return { data: response.data, errors: response.errors?.map((e) => ({ message: e.message, extensions: e.extensions })) };
}

const ids = (answer: { data: any }) => answer.data.audience.edges.map((e: { node: { id: string } }) => e.node.id);

const refused = (reason: string, key: string) => ({
  data: null,
  errors: [{ message: expect.stringContaining(`filter.${key}`), extensions: { code: 'FORBIDDEN', reason } }],
});

describe('an audience filter', () => {
  it('is refused on birthdate, loyalty and orders for a purpose that does not cover them, whatever the value', async () => {
    // The fields themselves are refused ...
    const fields = await audience(narrow, { countries: ['PT'] }, { select: 'edges { node { id birthdate loyalty { tier points } } }' });
    expect(fields.data.audience.edges).toEqual([{ node: { id: member.id, birthdate: null, loyalty: null } }]);
    expect(fields.errors!.map((e) => e.extensions)).toEqual([
      { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' },
      { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' },
    ]);
    // ... and so is every filter on them: the same answer for the value that keeps the member and the one that drops them.
    const pairs: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['ageMin', { ageMin: 39, ageMax: 39 }, { ageMin: 38, ageMax: 38 }],
      ['minLoyaltyPoints', { minLoyaltyPoints: 42_000 }, { minLoyaltyPoints: 42_001 }],
      ['orders', { orders: { minSpendMinor: 123_456 } }, { orders: { minSpendMinor: 123_457 } }],
      ['loyaltyTiers', { loyaltyTiers: ['platinum'] }, { loyaltyTiers: ['gold'] }],
      ['lastOrderAfter', { lastOrderAfter: '2026-05-20T12:00:00Z' }, { lastOrderAfter: '2026-05-20T12:00:00.001Z' }],
    ];
    for (const [key, keeps, drops] of pairs) {
      for (const select of ['edges { node { id } }', 'totalCount']) {
        const kept = await audience(narrow, { countries: ['PT'], ...keeps }, { select });
        expect(kept, key).toEqual(refused('PURPOSE_NOT_COVERED', key));
        expect(await audience(narrow, { countries: ['PT'], ...drops }, { select }), key).toEqual(kept);
      }
    }
    // A token that holds the scopes changes nothing: the purpose decides first.
    expect(await audience(broad, { ageMin: 39, ageMax: 39 })).toEqual(refused('PURPOSE_NOT_COVERED', 'ageMin'));
    // What both cover still selects.
    expect(ids(await audience(narrow, { countries: ['PT'] }))).toEqual([member.id]);
  });

  it('selects on orders under the default support and personalization, and on loyalty or age only under loyalty_offers', async () => {
    const covered = async (purpose: string) => {
      const keys: string[] = [];
      for (const key of ['orders', 'lastOrderAfter', 'loyaltyTiers', 'minLoyaltyPoints', 'ageMin']) {
        const answer = await audience(broad, { [key]: KEYS[key]!.value }, { purpose, select: 'totalCount' });
        if (answer.errors === undefined) keys.push(key);
        else expect(answer, `${purpose} ${key}`).toEqual(refused('PURPOSE_NOT_COVERED', key));
      }
      return keys;
    };
    const purposes = ['support', 'personalization', 'email_marketing', 'checkout', 'loyalty_offers'];
    expect(Object.fromEntries(await Promise.all(purposes.map(async (p) => [p, await covered(p)])))).toEqual({
      support: ['orders', 'lastOrderAfter'],
      personalization: ['orders', 'lastOrderAfter'],
      email_marketing: [],
      checkout: [],
      loyalty_offers: ['orders', 'lastOrderAfter', 'loyaltyTiers', 'minLoyaltyPoints', 'ageMin'],
    });
  });

  it('is refused with MISSING_SCOPE on a field the purpose covers and the token does not', async () => {
    // email_marketing covers preferences; the narrow token does not.
    for (const filter of [{ interestsAny: ['cycling'] }, { channelsAny: ['email'] }]) {
      expect(await audience(narrow, { countries: ['PT'], ...filter })).toEqual(refused('MISSING_SCOPE', Object.keys(filter)[0]!));
    }
    expect(ids(await audience(broad, { countries: ['PT'], interestsAny: ['cycling'], channelsAny: ['email'] }))).toEqual([member.id]);
  });

  it('reads, for each key, the field its column is copied from', async () => {
    await definePurpose('every_category', READ_SCOPES.map((s) => s.slice(0, -':read'.length)));
    let n = 0;
    const token = (scopes: string[]) => clientToken(hub, ['audience:read', ...scopes], `agt_01J0000000000000000000K${String(++n).padStart(3, '0')}`);
    for (const [key, { reads }] of Object.entries(KEYS)) {
      const category = reads.split('.')[0]!;
      const filter = { [key]: KEYS[key]!.value };
      const without = await token(READ_SCOPES.filter((s) => s !== `${category}:read`));
      expect(await audience(without, filter, { purpose: 'every_category' }), key).toEqual(refused('MISSING_SCOPE', key));
      const only = await token([`${reads}:read`]);
      expect((await audience(only, filter, { purpose: 'every_category' })).errors, key).toBeUndefined();
    }
  });

  it('selects exactly on a single field that the purpose and the token both name', async () => {
    await definePurpose('birthday_mail', ['profile', 'contact.email', 'identity.birthdate']);
    await giveConsent(hub, member.accessToken, { purpose: 'birthday_mail' });
    const birthday = await clientToken(hub, ['audience:read', 'profile:read', 'identity.birthdate:read'], 'agt_01J0000000000000000000FBDY');
    const options = { purpose: 'birthday_mail' };
    expect(ids(await audience(birthday, { countries: ['PT'], ageMin: 39, ageMax: 39 }, options))).toEqual([member.id]);
    expect(ids(await audience(birthday, { countries: ['PT'], ageMin: 38, ageMax: 38 }, options))).toEqual([]);
    expect(await audience(birthday, { minLoyaltyPoints: 1 }, options)).toEqual(refused('PURPOSE_NOT_COVERED', 'minLoyaltyPoints'));
  });

  it('is audited as a denied query, with the reason and the key refused', async () => {
    const auditor = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000FAUD');
    await audience(auditor, { countries: ['PT'], minLoyaltyPoints: 42_000 });
    await hub.services.audit.flush();
    const events = await hub.services.db
      .selectFrom('audit_events')
      .select(['action', 'purpose', 'decision', 'reason', 'fields_denied', 'detail'])
      .where('client_id', '=', 'agt_01J0000000000000000000FAUD')
      .execute();
    expect(events).toEqual([
      {
        action: 'audience.queried',
        purpose: 'email_marketing',
        decision: 'deny',
        reason: 'PURPOSE_NOT_COVERED',
        fields_denied: ['loyalty'],
        detail: { first: 100, filter: { countries: ['PT'], minLoyaltyPoints: 42_000 }, refusedFilter: 'minLoyaltyPoints' },
      },
    ]);
  });
});

const CREATE = 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }';
const MEMBERS = 'query($id: ID!) { savedAudience(id: $id) { id members { edges { node { id } } } } }';

async function create(token: string, name: string, purpose: string, filter: Record<string, unknown>) {
  const response = await graphql<any>(hub, CREATE, { token, variables: { input: { name, purpose, filter } } });
  return { data: response.data, errors: response.errors?.map((e) => ({ message: e.message, extensions: e.extensions })) };
}

async function members(token: string, id: string) {
  const response = await graphql<any>(hub, MEMBERS, { token, variables: { id } });
  return { data: response.data, errors: response.errors?.map((e) => ({ message: e.message, path: e.path, extensions: e.extensions })) };
}

/** The export as the service gives it: the member ids, or the error it refused with. */
async function exported(token: string, id: string): Promise<string[] | { code: unknown; reason: unknown }> {
  const principal = await hub.services.tokens.authenticate(token);
  try {
    const ids: string[] = [];
    for await (const chunk of await exportSavedAudience(hub.services, { principal, requestId: null }, id)) {
      ids.push(...chunk.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { id: string }).id));
    }
    return ids;
  } catch (error) {
    const { code, reason } = (error as { extensions?: Record<string, unknown> }).extensions ?? {};
    return { code, reason };
  }
}

async function exportOverHttp(token: string, id: string) {
  return hub.http.inject({ method: 'GET', url: `/audiences/${id}/export`, headers: { authorization: `Bearer ${token}` } });
}

describe('a saved audience’s filter', () => {
  let vip: string;
  let saved: string;
  beforeAll(async () => {
    await definePurpose('vip_offers', ['profile', 'contact.email', 'loyalty']);
    await giveConsent(hub, member.accessToken, { purpose: 'vip_offers' });
    vip = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read', 'loyalty:read'], 'agt_01J0000000000000000000FVIP');
    const created = await create(vip, 'Platinum', 'vip_offers', { countries: ['PT'], minLoyaltyPoints: 42_000 });
    expect(created.errors).toBeUndefined();
    saved = created.data.createAudience.id;
  });

  it('is refused when saved, if the purpose or the token does not cover it, and nothing is saved', async () => {
    const uncovered = await create(narrow, 'By points', 'email_marketing', { countries: ['PT'], minLoyaltyPoints: 42_000 });
    expect(uncovered).toEqual({ data: null, errors: [{ message: expect.stringContaining('input.filter.minLoyaltyPoints'), extensions: { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' } }] });
    const unscoped = await create(narrow, 'By interest', 'email_marketing', { interestsAny: ['cycling'] });
    expect(unscoped).toEqual({ data: null, errors: [{ message: expect.stringContaining('input.filter.interestsAny'), extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } }] });
    const ageless = await create(broad, 'By age', 'vip_offers', { ageMin: 30 });
    expect(ageless.errors?.map((e) => e.extensions)).toEqual([{ code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' }]);
    const listed = await graphql<any>(hub, '{ savedAudiences(first: 100) { edges { node { name } } } }', { token: narrow });
    expect(listed.data.savedAudiences.edges).toEqual([]);
    const rows = await hub.services.db.selectFrom('saved_audiences').select('name').where('name', 'in', ['By points', 'By interest', 'By age']).execute();
    expect(rows).toEqual([]);
  });

  it('is checked against the token that reads or exports it, not the one that saved it', async () => {
    expect(await members(vip, saved)).toEqual({ data: { savedAudience: { id: saved, members: { edges: [{ node: { id: member.id } }] } } }, errors: undefined });
    expect(await exported(vip, saved)).toEqual([member.id]);
    // The same tool, with a token without loyalty:read, may read the audience but not select by loyalty.
    const reader = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read'], 'agt_01J0000000000000000000FVIP');
    expect(await members(reader, saved)).toEqual({
      data: { savedAudience: null },
      errors: [{ message: expect.stringContaining('filter.minLoyaltyPoints'), path: ['savedAudience', 'members'], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } }],
    });
    expect(await exported(reader, saved)).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const response = await exportOverHttp(reader, saved);
    expect(response.statusCode).toBe(403);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="hub", error="insufficient_scope", resource_metadata="[^"]+"$/);
    expect(response.body).not.toContain(member.id);
  });

  it('is checked against the purpose as it is now, not as it was when saved', async () => {
    await definePurpose('vip_offers', ['profile', 'contact.email']);
    expect(await members(vip, saved)).toEqual({
      data: { savedAudience: null },
      errors: [{ message: expect.stringContaining('filter.minLoyaltyPoints'), path: ['savedAudience', 'members'], extensions: { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' } }],
    });
    expect(await exported(vip, saved)).toEqual({ code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' });
    const response = await exportOverHttp(vip, saved);
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: 'access_denied' });
    expect(response.body).not.toContain(member.id);
    await hub.services.audit.flush();
    const denied = await hub.services.db
      .selectFrom('audit_events')
      .select(['action', 'reason', 'detail'])
      .where('client_id', '=', 'agt_01J0000000000000000000FVIP')
      .where('decision', '=', 'deny')
      .orderBy('id')
      .execute();
    expect(denied.map((e) => [e.action, e.reason, (e.detail as { savedAudienceId?: string }).savedAudienceId])).toEqual([
      ['audience.queried', 'MISSING_SCOPE', saved],
      ['audience.exported', 'MISSING_SCOPE', saved],
      ['audience.exported', 'MISSING_SCOPE', saved],
      ['audience.queried', 'PURPOSE_NOT_COVERED', saved],
      ['audience.exported', 'PURPOSE_NOT_COVERED', saved],
      ['audience.exported', 'PURPOSE_NOT_COVERED', saved],
    ]);
  });
});
