import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { findConsentedPurposes } from '../../src/consent/purposes.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { definePurpose, giveConsent } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let early: string;
let late: string;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock: fixedClock(new Date()) });
  admin = await clientToken(hub, ['consents:admin'], 'agt_01J0000000000000000000VADM');
  alice = await signUpUser(hub);
  expect(await definePurpose(hub, admin, 'club_news', ['profile'])).toBe('1');
  early = await giveConsent(hub, alice.accessToken, { purpose: 'club_news' });
  expect(await definePurpose(hub, admin, 'club_news', ['profile', 'loyalty'])).toBe('2');
  late = await giveConsent(hub, alice.accessToken, { purpose: 'club_news' });
});
afterAll(() => hub.close());

describe('a consent’s purpose', () => {
  it('is the version the consent was given under, not the newest', async () => {
    const response = await graphql<any>(hub, `{ me { consents { id policyVersion purpose { version dataCategories } } } }`, { token: alice.accessToken });
    expect(response.errors).toBeUndefined();
    const byId = new Map(response.data.me.consents.map((c: { id: string }) => [c.id, c]));
    expect(byId.get(early)).toEqual({ id: early, policyVersion: '1', purpose: { version: '1', dataCategories: ['profile'] } });
    expect(byId.get(late)).toEqual({ id: late, policyVersion: '2', purpose: { version: '2', dataCategories: ['profile', 'loyalty'] } });
  });

  it('is the same read through consent(id)', async () => {
    const response = await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { purpose { version noticeSha256 } } }', { token: alice.accessToken, variables: { id: early } });
    expect(response.data.consent.purpose.version).toBe('1');
  });

  it('is read for ten thousand consents at once, as an agent’s decommissioning withdraws them', async () => {
    const consents = Array.from({ length: 10_000 }, (_, i) => ({ purpose: i % 2 === 0 ? 'club_news' : 'support', policyVersion: String(1 + (i % 3)) }));
    const purposes = await findConsentedPurposes(hub.services.db, consents);
    // support has only version 1, club_news 1 and 2: a version the registry does not hold reads as the newest.
    const expected = (c: (typeof consents)[number]) => (c.purpose === 'support' ? 'support@1' : `club_news@${c.policyVersion === '3' ? '2' : c.policyVersion}`);
    expect(purposes.map((p) => `${p?.key}@${p?.version}`)).toEqual(consents.map(expected));
  });
});

describe('a consent to the version whose notice the person was shown', () => {
  const give = (policyVersion: string) =>
    graphql<any>(hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { policyVersion } }', {
      token: alice.accessToken,
      variables: { input: { purpose: 'club_news', policyVersion } },
    });

  it('is given when that version is in force', async () => {
    const response = await give('2');
    expect(response.errors).toBeUndefined();
    expect(response.data.giveConsent).toEqual({ policyVersion: '2' });
  });

  it('is refused, and nothing given, when a newer version came in since', async () => {
    const before = await hub.services.db.selectFrom('consents').select('id').where('user_id', '=', alice.id).execute();
    const response = await give('1');
    expect(response.errors?.[0]).toMatchObject({
      message: 'input.policyVersion: is not the version of club_news in force (2): show its notice again',
      extensions: { code: 'BAD_USER_INPUT', field: 'input.policyVersion' },
    });
    expect(await hub.services.db.selectFrom('consents').select('id').where('user_id', '=', alice.id).execute()).toEqual(before);
  });
});
