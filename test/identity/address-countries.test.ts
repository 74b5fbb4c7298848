import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
let user: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await startTestHub();
  user = await signUpUser(hub);
});
afterAll(() => hub.close());

const UPDATE = 'mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { address { line1 city postalCode country } } }';

describe('addresses in countries without postal codes', () => {
  // Hong Kong, the United Arab Emirates, Qatar and Fiji, among some sixty countries, have no postal codes (UPU).
  it.each([
    { line1: 'Flat 5, 10 Nathan Road', city: 'Kowloon', country: 'HK' },
    { line1: 'Villa 12, Street 5, Al Wasl', city: 'Dubai', country: 'AE' },
    { line1: 'Building 10, Street 820', city: 'Doha', country: 'QA' },
  ])('stores an address in $country, which has no postal code', async (address) => {
    const response = await graphql<any>(hub, UPDATE, { variables: { input: { address: { ...address, postalCode: '' } } }, token: user.accessToken });
    expect(response.errors).toBeUndefined();
    expect(response.data.updateProfile.address).toEqual({ line1: address.line1, city: address.city, postalCode: null, country: address.country });
  });

  it('stores one left out or null as none, and still checks one given', async () => {
    const address = { line1: 'Flat 5, 10 Nathan Road', city: 'Kowloon', country: 'HK' };
    for (const postalCode of [undefined, null]) {
      const response = await graphql<any>(hub, UPDATE, { variables: { input: { address: { ...address, postalCode } } }, token: user.accessToken });
      expect(response.data.updateProfile.address.postalCode).toBeNull();
    }
    const given = await graphql<any>(hub, UPDATE, { variables: { input: { address: { line1: 'Hauptstraße 1', city: 'Berlin', postalCode: ' 10115 ', country: 'DE' } } }, token: user.accessToken });
    expect(given.data.updateProfile.address.postalCode).toBe('10115');
    const bad = await graphql<any>(hub, UPDATE, { variables: { input: { address: { ...address, postalCode: '<b>' } } }, token: user.accessToken });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.address.postalCode' });
  });
});
