import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

// ageMin and ageMax are whole years on today's date in UTC; a leap day is where that is easy to get wrong.
const clock = fixedClock(new Date('2024-02-29T12:00:00.000Z'));
let hub: Hub;
let tool: string;
/** Member ids by birthdate. */
const born = new Map<string, string>();
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  tool = await clientToken(hub, ['audience:read', 'profile:read', 'identity:read'], 'agt_01J0000000000000000000AGES');
  for (const birthdate of ['2023-02-28', '2023-03-01', '2020-02-29', '2020-03-01']) {
    const user = await signUpUser(hub);
    await hub.services.db.updateTable('users').set({ birthdate }).where('id', '=', user.id).execute();
    await giveConsent(hub, user.accessToken, { purpose: 'loyalty_offers' });
    born.set(user.id, birthdate);
  }
});
afterAll(() => hub.close());

/** The birthdates of the members the filter keeps, in order. */
async function birthdates(filter: Record<string, unknown>): Promise<string[]> {
  const response = await graphql<any>(hub, 'query($f: AudienceFilter) { audience(purpose: "loyalty_offers", filter: $f) { edges { node { id } } } }', { token: tool, variables: { f: filter } });
  expect(response.errors).toBeUndefined();
  return response.data.audience.edges.map((e: { node: { id: string } }) => born.get(e.node.id)).sort();
}

describe('an age band on February 29', () => {
  it('counts someone born on March 1 of a year without a February 29 as not yet having had their birthday', async () => {
    // Born 2023-02-28: 1 today; born 2023-03-01: still 0.
    expect(await birthdates({ ageMin: 1, ageMax: 1 })).toEqual(['2023-02-28']);
    expect(await birthdates({ ageMax: 0 })).toEqual(['2023-03-01']);
    // Born 2020-02-29: 4 today; born 2020-03-01: still 3.
    expect(await birthdates({ ageMin: 4 })).toEqual(['2020-02-29']);
    expect(await birthdates({ ageMin: 3, ageMax: 3 })).toEqual(['2020-03-01']);
  });
});
