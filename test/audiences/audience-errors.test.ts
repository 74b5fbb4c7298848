import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';
import { MAX_CLIENT_ERRORS } from '../../src/graphql/error-budget.js';
import { COMPILE_AFTER_RUNS } from '../../src/http/graphql-jit.js';
import { seedUsers } from '../../src/identity/seed.js';
import { clientToken, graphql, startTestHub } from '../helpers/hub.js';
import { lineScansDuring } from '../helpers/line-scans.js';

// email_marketing covers the contact email, not the phone nor the name: a page of its members
// asking for the phone twice (under an alias) and the name is refused three fields a member.
let hub: Hub;
let token: string;
beforeAll(async () => {
  hub = await startTestHub();
  await seedUsers(hub.services.db, { users: 300, seed: 11, passwordHash: 'not-a-real-hash' });
  token = await clientToken(hub, ['audience:read', ...ALL_DATA_SCOPES.filter((scope) => scope.endsWith(':read'))]);
}, 60_000);
afterAll(() => hub.close());

describe('the refused fields of an audience page', () => {
  it('are errors up to the most an answer carries, and no more are made, whether graphql-js or graphql-jit runs the query', async () => {
    // The members' fields have no resolver: graphql-js wraps and locates each refusal itself,
    // reading the document from its start for each, 2.6 s of CPU for 2,000 of them here.
    const query = `query Refused {${'\n'.repeat(50_000)} audience(purpose: "email_marketing", first: 1000) { edges { node { id phone givenName again: phone } } } }`;
    for (let run = 0; run <= COMPILE_AFTER_RUNS; run++) {
      const { result: response, scans } = await lineScansDuring(() => graphql<any>(hub, query, { token }));
      const members = response.data.audience.edges.map((edge: any) => edge.node);
      expect(members.length).toBeGreaterThan(MAX_CLIENT_ERRORS);
      expect(members.every((member: any) => member.phone === null && member.givenName === null && member.again === null)).toBe(true);
      const errors = response.errors ?? [];
      expect(errors).toHaveLength(MAX_CLIENT_ERRORS + 1);
      expect(errors.slice(0, MAX_CLIENT_ERRORS).every((error) => error.extensions?.reason === 'PURPOSE_NOT_COVERED')).toBe(true);
      expect(errors.at(-1)?.message).toMatch(new RegExp(`^${3 * members.length - MAX_CLIENT_ERRORS} more errors were left out`));
      expect(scans).toBeLessThanOrEqual(MAX_CLIENT_ERRORS);
    }
  }, 120_000);
});
