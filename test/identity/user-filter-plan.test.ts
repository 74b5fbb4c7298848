import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { planOfStatement, startCountedHub, StatementLog } from '../helpers/statements.js';

const log = new StatementLog();
let hub: Hub;
beforeAll(async () => {
  hub = await startCountedHub(log);
  await signUpUser(hub, { country: 'CH' });
  // Many users of other countries, none of them erased, as in a hub with real customers.
  await sql`insert into users (id, email, country, created_at)
    select 'usr_' || lpad(i::text, 26, '0'), 'user' || i || '@example.com', (array['US', 'DE', 'FR'])[1 + i % 3], now() - i * interval '1 minute'
    from generate_series(1, 20000) i`.execute(hub.services.db);
  await sql`analyze users`.execute(hub.services.db);
});
afterAll(() => hub.close());

/** The plan of the statement the hub sent for the list, for a country few users have. */
async function planOfList(order: 'createdAt' | 'id'): Promise<string> {
  const scopes = order === 'createdAt' ? ['users:admin', 'profile:read'] : ['users:admin', 'profile.country:read'];
  const token = await clientToken(hub, scopes);
  const response = await log.during(() => graphql<any>(hub, 'query { users(first: 5, filter: { country: "CH" }) { edges { node { id } } } }', { token }));
  expect(response.errors).toBeUndefined();
  expect(response.data.users.edges).toHaveLength(1);
  const [statement] = log.matching(/from "users" where .*"country" = /);
  expect(statement).toBeDefined();
  return planOfStatement(hub.services.db, statement!, "('erased', 'CH', 6)");
}

describe('the user list filtered on a country', () => {
  it('reads that country through an index, oldest first, not every user', async () => {
    const plan = await planOfList('createdAt');
    expect(plan).toContain('users_country_created_at');
    expect(plan).not.toMatch(/Seq Scan|Sort/);
  });

  it('reads that country through an index in id order too', async () => {
    const plan = await planOfList('id');
    expect(plan).toContain('users_country_id');
    expect(plan).not.toMatch(/Seq Scan|Sort/);
  });
});
