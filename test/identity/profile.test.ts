import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
let user: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await startTestHub();
  user = await signUpUser(hub, { givenName: 'Ada' });
});
afterAll(() => hub.close());

const UPDATE = `mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    givenName familyName phone birthdate locale country
    address { line1 line2 city region postalCode country }
    preferences { channels interests sizes { kind value } tags }
  }
}`;

const update = (input: Record<string, unknown>) => graphql<{ updateProfile: Record<string, unknown> }>(hub, UPDATE, { variables: { input }, token: user.accessToken });

describe('updateProfile', () => {
  it('collects the profile step by step, leaving fields not given as they were', async () => {
    expect((await update({ familyName: 'Lovelace' })).data?.updateProfile).toMatchObject({ givenName: 'Ada', familyName: 'Lovelace', phone: null });
    expect((await update({ phone: '+447700900123', birthdate: '1990-12-10' })).data?.updateProfile).toMatchObject({
      givenName: 'Ada',
      familyName: 'Lovelace',
      phone: '+447700900123',
      birthdate: '1990-12-10',
    });
    const address = { line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'gb' };
    expect((await update({ address, locale: 'en-gb', country: 'GB' })).data?.updateProfile).toMatchObject({
      phone: '+447700900123',
      locale: 'en-GB',
      address: { ...address, country: 'GB', line2: null, region: null },
    });
    const me = await graphql(hub, '{ me { givenName familyName phone birthdate country address { city } } }', { token: user.accessToken });
    expect(me.data).toEqual({ me: { givenName: 'Ada', familyName: 'Lovelace', phone: '+447700900123', birthdate: '1990-12-10', country: 'GB', address: { city: 'London' } } });
  });

  it('merges stated preferences: a list given replaces that list only', async () => {
    await update({ preferences: { channels: ['email', 'push'], interests: ['Running', 'running', 'books'] } });
    const response = await update({ preferences: { sizes: [{ kind: 'shoe', value: '42' }], tags: ['vip'] } });
    expect(response.data?.updateProfile.preferences).toEqual({
      channels: ['email', 'push'],
      interests: ['running', 'books'],
      sizes: [{ kind: 'shoe', value: '42' }],
      tags: ['vip'],
    });
  });

  it('clears a list of preferences given as null, as the schema allows, keeping the others', async () => {
    await update({ preferences: { channels: ['email'], interests: ['hiking'], sizes: [{ kind: 'shoe', value: '40' }], tags: ['new'] } });
    const response = await update({ preferences: { interests: null, sizes: null } });
    expect(response.errors).toBeUndefined();
    expect(response.data?.updateProfile.preferences).toEqual({ channels: ['email'], interests: [], sizes: [], tags: ['new'] });
  });

  it('keeps every list of concurrent preference updates: none writes over another it did not see', async () => {
    const lists = { channels: ['sms'], interests: ['chess'], sizes: [{ kind: 'shirt', value: 'M' }], tags: ['early'] };
    for (let round = 0; round < 5; round++) {
      await update({ preferences: null });
      const responses = await Promise.all(Object.entries(lists).map(([key, value]) => update({ preferences: { [key]: value } })));
      for (const response of responses) expect(response.errors).toBeUndefined();
      const me = await graphql<any>(hub, '{ me { preferences { channels interests sizes { kind value } tags } } }', { token: user.accessToken });
      expect(me.data.me.preferences).toEqual(lists);
    }
  });

  it.each([
    ['+44 7700 900123', '+447700900123'],
    ['+1 (415) 555-0100', '+14155550100'],
    ['+49-151-12345678', '+4915112345678'],
    ['+1 415.555.0100', '+14155550100'],
    // The trunk 0 that British numbers are written with in brackets, and a number typed in full-width forms.
    ['+44 (0)7700 900123', '+447700900123'],
    ['\uff0b\uff18\uff11 \uff19\uff10-\uff11\uff12\uff13\uff14-\uff15\uff16\uff17\uff18', '+819012345678'],
  ])('takes the phone number %s as people type it and stores it as %s', async (typed, stored) => {
    await update({ phone: null });
    const response = await update({ phone: typed });
    expect(response.errors).toBeUndefined();
    expect(response.data?.updateProfile.phone).toBe(stored);
    const row = await hub.services.db.selectFrom('users').select('phone').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.phone).toBe(stored);
  });

  it('asks for the country code of a number given without one, rather than guessing it from the profile', async () => {
    await update({ country: 'GB' });
    const response = await update({ phone: '07700 900123' });
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.phone' });
    expect(response.errors?.[0]?.message).toBe('input.phone: must start with + and the country code, such as +44 7700 900123');
  });

  it('clears a field given as null', async () => {
    await update({ phone: '+14155550100' });
    expect((await update({ phone: null })).data?.updateProfile.phone).toBeNull();
  });

  it('clears the address and every list of preferences given as null', async () => {
    await update({
      address: { line1: '1 High Petergate', city: 'York', postalCode: 'YO1 7HH', country: 'GB' },
      preferences: { channels: ['sms'], interests: ['tea'], sizes: [{ kind: 'hat', value: 'L' }], tags: ['early'] },
    });
    const response = await update({ address: null, preferences: null });
    expect(response.errors).toBeUndefined();
    expect(response.data?.updateProfile).toMatchObject({ address: null, preferences: { channels: [], interests: [], sizes: [], tags: [] } });
    const row = await hub.services.db.selectFrom('users').select(['address', 'preferences']).where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ address: null, preferences: {} });
  });

  it('names in its audit event the fields it was given, and no others', async () => {
    // The access review counts an agent's use of a scope from these fields.
    const writer = await signUpUser(hub);
    const response = await graphql(hub, UPDATE, { variables: { input: { preferences: { tags: ['poet'] }, familyName: 'Byron', address: null } }, token: writer.accessToken });
    expect(response.errors).toBeUndefined();
    await hub.services.audit.flush();
    const events = await hub.services.db.selectFrom('audit_events').select(['decision', 'detail']).where('subject_user_id', '=', writer.id).where('action', '=', 'profile.updated').execute();
    expect(events).toEqual([{ decision: 'allow', detail: { fields: ['address', 'familyName', 'preferences'] } }]);
  });

  it('changes nothing of a user suspended since their token was checked, and says there is no such user', async () => {
    const suspended = await signUpUser(hub, { givenName: 'Kept' });
    await hub.services.db.updateTable('users').set({ status: 'suspended' }).where('id', '=', suspended.id).execute();
    const principal = { kind: 'user', userId: suspended.id, clientId: 'hub-frontend', scopes: new Set<string>(), tokenId: 'tok_test' } as const;
    await expect(hub.services.identity.updateProfile(suspended.id, { givenName: 'Changed' }, { principal, requestId: null })).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    const row = await hub.services.db.selectFrom('users').select(['given_name', 'status']).where('id', '=', suspended.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ given_name: 'Kept', status: 'suspended' });
  });

  it.each([
    [{ phone: '0044 7700 900123' }, 'input.phone'],
    [{ phone: '+0123456789' }, 'input.phone'],
    // No such country code; too many digits for the plan of +1; an extension, which E.164 cannot hold; a number inside other text.
    [{ phone: '+999 1234 5678' }, 'input.phone'],
    [{ phone: '+1 415 555 01000' }, 'input.phone'],
    [{ phone: '+44 7700 900123 ext. 12' }, 'input.phone'],
    [{ phone: 'call +44 7700 900123' }, 'input.phone'],
    [{ birthdate: '2999-01-01' }, 'input.birthdate'],
    [{ locale: 'en_GB!!' }, 'input.locale'],
    [{ country: 'UK' }, 'input.country'],
    // Letters outside ASCII that uppercase to a code: ß to SS (South Sudan), the ligature ﬆ to ST, a dotless ı to IT.
    [{ country: 'ß' }, 'input.country'],
    [{ country: '\u0131t' }, 'input.country'],
    [{ address: { line1: 'x', city: 'y', postalCode: '1000', country: '\ufb06' } }, 'input.address.country'],
    [{ givenName: '' }, 'input.givenName'],
    [{ givenName: 'x'.repeat(101) }, 'input.givenName'],
    // Nothing visible: a soft hyphen, a Hangul filler, a direction mark and a braille blank, tag characters, a grapheme joiner, a variation selector.
    [{ givenName: '\u00ad' }, 'input.givenName'],
    [{ familyName: '\u3164' }, 'input.familyName'],
    [{ familyName: ' \u200e\u00ad\u2800 ' }, 'input.familyName'],
    [{ address: { line1: '\u{E0041}\u{E0064}\u{E0061}', city: 'y', postalCode: '1000', country: 'GB' } }, 'input.address.line1'],
    [{ address: { line1: 'x', city: '\u034f\u180e', postalCode: '1000', country: 'GB' } }, 'input.address.city'],
    [{ preferences: { sizes: [{ kind: 'shoe', value: '\ufe0f' }] } }, 'input.preferences.sizes.0.value'],
    // Soft hyphens around a space: white space shows nothing either.
    [{ givenName: '\u00ad \u00ad' }, 'input.givenName'],
    // One size per kind: the second would replace the first, silently.
    [{ preferences: { sizes: [{ kind: 'shoe', value: '42' }, { kind: 'shirt', value: 'M' }, { kind: ' Shoe', value: '43' }] } }, 'input.preferences.sizes.2.kind'],
    // Text hidden among visible characters: tag characters spelling "ignore", variation selectors carrying bytes.
    [{ givenName: 'Ada\u{E0069}\u{E0067}\u{E006E}\u{E006F}\u{E0072}\u{E0065}' }, 'input.givenName'],
    [{ familyName: 'Lovelace\u{1F3F4}\u{E0067}\u{E0062}' }, 'input.familyName'],
    [{ address: { line1: '12 High St \u{1F600}\u{E0101}\u{E0102}\u{E0103}', city: 'y', postalCode: '1000', country: 'GB' } }, 'input.address.line1'],
    // Tag letters after a black flag, longer than any flag's (UTS #51: at most 7) though ended by a cancel tag; a selector that follows no character.
    [{ familyName: `Lovelace \u{1F3F4}${[...'ignoretheconsent'].map((c) => String.fromCodePoint(0xe0000 + c.codePointAt(0)!)).join('')}\u{E007F}` }, 'input.familyName'],
    [{ givenName: '\u{E0101}Ada' }, 'input.givenName'],
    // Invisible characters with no place in a name: "Alice" that is not, and an annotation hiding text.
    [{ givenName: 'Ali\u2063ce' }, 'input.givenName'],
    [{ givenName: 'Ali\u2062ce' }, 'input.givenName'],
    [{ familyName: 'Love\u206flace' }, 'input.familyName'],
    [{ givenName: 'Ali\u2060ce' }, 'input.givenName'],
    [{ familyName: 'Love\ufefflace' }, 'input.familyName'],
    [{ address: { line1: '12 High St\ufff9ignore the consent\ufffa\ufffb', city: 'y', postalCode: '1000', country: 'GB' } }, 'input.address.line1'],
    // A line break or a tab, which start a new line or a column where a name is shown on one line.
    [{ givenName: 'Ada\nLovelace' }, 'input.givenName'],
    [{ familyName: 'Love\tlace' }, 'input.familyName'],
    // Marks stacked past any script's need (UAX #15 allows 30 on one character), drawn over the lines around the name.
    [{ givenName: `Ada${'\u0310\u0334\u0353'.repeat(11)}` }, 'input.givenName'],
    [{ address: { line1: `1${'\u0489'.repeat(31)} High St`, city: 'y', postalCode: '1000', country: 'GB' } }, 'input.address.line1'],
    [{ address: { line1: 'x', city: 'y', postalCode: '<script>', country: 'GB' } }, 'input.address.postalCode'],
    [{ address: { line1: 'x', city: 'y', postalCode: '1000', country: 'ZZ' } }, 'input.address.country'],
    [{ preferences: { channels: ['fax'] } }, 'input.preferences.channels.0'],
    [{ preferences: { tags: Array.from({ length: 31 }, (_, i) => `t${i}`) } }, 'input.preferences.tags'],
    // One past each bound; the next test takes each value at its bound.
    [{ preferences: { interests: Array.from({ length: 31 }, (_, i) => `i${i}`) } }, 'input.preferences.interests'],
    [{ preferences: { sizes: Array.from({ length: 11 }, (_, i) => ({ kind: `k${i}`, value: 'M' })) } }, 'input.preferences.sizes'],
    [{ preferences: { tags: ['t'.repeat(51)] } }, 'input.preferences.tags.0'],
    [{ preferences: { sizes: [{ kind: 'shoe', value: '4'.repeat(21) }] } }, 'input.preferences.sizes.0.value'],
    [{ address: { line1: 'x'.repeat(201), city: 'y', postalCode: '1000', country: 'GB' } }, 'input.address.line1'],
    [{ address: { line1: 'x', city: 'y', postalCode: '1'.repeat(17), country: 'GB' } }, 'input.address.postalCode'],
    [{ locale: 'en-GB-x-aaaaaaaa-bbbbbbbb-cccccccc-d' }, 'input.locale'],
  ])('refuses %o naming the field, and changes nothing', async (input, field) => {
    const before = await graphql(hub, '{ me { phone updatedAt } }', { token: user.accessToken });
    const response = await update(input);
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(response.data).toBeNull();
    expect((await graphql(hub, '{ me { phone updatedAt } }', { token: user.accessToken })).data).toEqual(before.data);
  });

  it('takes each value at its bound', async () => {
    const input = {
      locale: 'en-GB-x-aaaaaaaa-bbbbbbbb-ccccccc-d',
      address: { line1: 'x'.repeat(200), city: 'y', postalCode: '1'.repeat(16), country: 'GB' },
      preferences: {
        interests: Array.from({ length: 30 }, (_, i) => `i${i}`),
        sizes: Array.from({ length: 10 }, (_, i) => ({ kind: `k${i}`, value: i === 0 ? '4'.repeat(20) : 'M' })),
        tags: ['t'.repeat(50)],
      },
    };
    const response = await update(input);
    expect(response.errors).toBeUndefined();
    expect(response.data?.updateProfile).toMatchObject({ locale: input.locale, address: input.address, preferences: input.preferences });
  });

  it('keeps the invisible characters a name may hold between visible ones', async () => {
    // A soft hyphen marks where a long name may break; Persian writes Niknam with a zero-width non-joiner.
    const names = { givenName: 'Wolf\u00adgang', familyName: '\u0646\u06cc\u06a9\u200c\u0646\u0627\u0645' };
    expect((await update(names)).data?.updateProfile).toMatchObject(names);
  });

  it('keeps the marks a name is written with, composed where Unicode composes them', async () => {
    // Vietnamese typed in decomposed form, and Hebrew with its points (their canonical order first).
    const response = await update({ givenName: 'Nguye\u0302\u0303n', familyName: '\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd' });
    expect(response.data?.updateProfile).toMatchObject({ givenName: 'Nguy\u1ec5n', familyName: '\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd' });
  });

  it('stores a name trimmed, and calls one of white space alone empty', async () => {
    expect((await update({ givenName: '  Ada\u3000' })).data?.updateProfile).toMatchObject({ givenName: 'Ada' });
    expect((await update({ familyName: ' \u00a0 ' })).errors?.[0]).toMatchObject({ message: 'input.familyName: must not be empty', extensions: { code: 'BAD_USER_INPUT', field: 'input.familyName' } });
  });

  it('bounds a name by its characters once composed, and takes 30 marks on one character', async () => {
    // 100 Greek letters typed decomposed, each as four code points (alpha, psili, varia, ypogegrammeni): 100 characters in NFC.
    const composed = await update({ givenName: '\u03b1\u0313\u0300\u0345'.repeat(100) });
    expect(composed.errors).toBeUndefined();
    expect(composed.data?.updateProfile).toMatchObject({ givenName: '\u1f82'.repeat(100) });
    // UAX #15's stream-safe format allows 30 marks in a row; the refusals above start at 31.
    const marked = `A${'\u0489'.repeat(30)}da`;
    expect((await update({ familyName: marked })).data?.updateProfile).toMatchObject({ familyName: marked });
  });

  it('keeps the flag of Scotland and a name written with an ideographic variation', async () => {
    // A black flag with the tag letters g b s c t and a cancel tag; 葛 with the selector for its other glyph (Unicode IVD).
    const names = { givenName: 'Morag \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}', familyName: '\u845b\u{E0100}\u57ce' };
    expect((await update(names)).data?.updateProfile).toMatchObject(names);
  });

  it('refuses a calendar date that does not exist, as a bad input value', async () => {
    const response = await update({ birthdate: '2023-02-30' });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('needs a signed-in user', async () => {
    const response = await graphql(hub, UPDATE, { variables: { input: { givenName: 'Mallory' } } });
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });
});

describe('orders and payment methods', () => {
  beforeAll(async () => {
    const db = hub.services.db;
    await db
      .insertInto('orders')
      .values(
        Array.from({ length: 12 }, (_, i) => ({
          id: `ord_${String(i).padStart(2, '0')}`,
          user_id: user.id,
          placed_at: new Date(Date.UTC(2026, 0, i + 1)),
          total_minor: 1000 + i,
          currency: 'GBP',
          status: 'delivered' as const,
          line_items: JSON.stringify([{ sku: `sku-${i}`, name: 'Thing', quantity: 1, unitPriceMinor: 1000 + i }]),
        })),
      )
      .execute();
    await db.insertInto('payment_methods').values({ id: 'pm_1', user_id: user.id, brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 }).execute();
  });

  it('pages orders newest first with opaque cursors, and counts them on request', async () => {
    const page = (after?: string) =>
      graphql<any>(hub, 'query($after: String) { me { orders(first: 5, after: $after) { totalCount edges { cursor node { id totalMinor lineItems { sku } } } pageInfo { hasNextPage endCursor } } } }', {
        token: user.accessToken,
        variables: { after },
      });
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const { data } = await page(after);
      const orders = data.me.orders;
      expect(orders.totalCount).toBe(12);
      seen.push(...orders.edges.map((e: any) => e.node.id));
      if (!orders.pageInfo.hasNextPage) break;
      after = orders.pageInfo.endCursor;
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `ord_${String(11 - i).padStart(2, '0')}`));
  });

  it('shows totals and prices past 32 bits, which currencies with small minor units reach', async () => {
    const buyer = await signUpUser(hub);
    // IDR 30,000,000.00 in minor units: past 2^31.
    const line_items = JSON.stringify([{ sku: 'laptop', name: 'Laptop', quantity: 1, unitPriceMinor: 3_000_000_000 }]);
    await hub.services.db.insertInto('orders').values({ id: 'ord_idr', user_id: buyer.id, placed_at: new Date(), total_minor: 3_000_000_000, currency: 'IDR', status: 'paid', line_items }).execute();
    const { data, errors } = await graphql<any>(hub, '{ me { orders(first: 1) { edges { node { totalMinor lineItems { unitPriceMinor } } } } } }', { token: buyer.accessToken });
    expect(errors).toBeUndefined();
    expect(data.me.orders.edges[0].node).toEqual({ totalMinor: 3_000_000_000, lineItems: [{ unitPriceMinor: 3_000_000_000 }] });
  });

  it('refuses a page size past the cap and a forged cursor', async () => {
    const big = await graphql(hub, '{ me { orders(first: 101) { edges { cursor } } } }', { token: user.accessToken });
    expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    const forged = await graphql(hub, '{ me { orders(after: "not-a-cursor") { edges { cursor } } } }', { token: user.accessToken });
    expect(forged.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });

  it('shows payment methods masked, never a card number', async () => {
    const response = await graphql(hub, '{ me { paymentMethods { brand last4 expMonth expYear } loyalty { tier points } } }', { token: user.accessToken });
    expect(response.data).toEqual({ me: { paymentMethods: [{ brand: 'visa', last4: '4242', expMonth: 12, expYear: 2030 }], loyalty: { tier: null, points: 0 } } });
  });
});
