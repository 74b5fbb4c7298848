import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { ALL_DATA_SCOPES } from '../../src/authz/scopes.js';
import { clientToken, graphql, startTestHub } from '../helpers/hub.js';

let hub: Hub;
let token: string;
beforeAll(async () => {
  hub = await startTestHub();
  token = await clientToken(hub, ['users:admin', ...ALL_DATA_SCOPES]);
});
afterAll(() => hub.close());

const NESTED = 'query($users: Int, $orders: Int) { users(first: $users) { edges { node { id orders(first: $orders) { edges { node { id totalMinor currency status placedAt } } } } } } }';

describe('the cost limit counts list sizes', () => {
  it('answers a nested page within the limit', async () => {
    const response = await graphql(hub, NESTED, { token, variables: { users: 50, orders: 10 } });
    expect(response.errors).toBeUndefined();
  });

  it('refuses nested pages past the limit given as literals, before anything runs', async () => {
    const literal = '{ users(first: 100) { edges { node { id orders(first: 100) { edges { node { id totalMinor currency status placedAt } } } } } } }';
    const response = await graphql(hub, literal, { token });
    expect(response.status).toBe(400);
    expect(response.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^Query Cost limit of 20000 exceeded/), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('refuses the same pages given as variables', async () => {
    const response = await graphql(hub, NESTED, { token, variables: { users: 100, orders: 100 } });
    expect(response.status).toBe(400);
    expect(response.data).toBeUndefined();
    expect(response.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^Query Cost limit of 20000 exceeded/), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('counts a page-size variable left out as the page the resolver returns without it', async () => {
    const literal = '{ users(first: 20) { edges { node { id orders(first: 20) { edges { node { id totalMinor currency status placedAt } } } } } } }';
    expect(await verdict(NESTED, {})).toEqual(await verdict(literal));
    expect(await verdict(NESTED, {})).toMatchObject({ status: 200 });
  });

  it('counts a page-size variable left out at its default value', async () => {
    const defaulted = NESTED.replace('$users: Int, $orders: Int', '$users: Int = 100, $orders: Int = 100');
    expect(await verdict(defaulted, {})).toEqual(await verdict(NESTED, { users: 100, orders: 100 }));
    expect(await verdict(defaulted, {})).toMatchObject({ status: 400 });
  });

  it('counts an audience page at the default of its variable, up to the audience maximum', async () => {
    const page = (first: string) => `audience(purpose: "email_marketing", first: ${first}) { edges { node { id email country locale } } }`;
    const given = await verdict(aliased(5, page('1000')));
    expect(given).toMatchObject({ status: 400, code: 'BAD_USER_INPUT' });
    const defaulted = `query($n: Int = 1000) { ${Array.from({ length: 5 }, (_, i) => `a${i}: ${page('$n')}`).join(' ')} }`;
    expect(await verdict(defaulted, {})).toEqual(given);
  });

  it('counts a page-size variable the operation refuses as the largest page', async () => {
    expect(await verdict(NESTED, { users: 'many', orders: 10 })).toEqual(await verdict(NESTED, { users: 100, orders: 100 }));
  });
});

describe('the cost limit counts a user’s consent lists', () => {
  const nested = (page: string, depth: number): string => (depth === 0 ? 'id' : `consents${page} { id user { ${nested(page, depth - 1)} } }`);
  const query = (page: string, depth: number) => `{ user(id: "usr_nobody") { ${nested(page, depth)} } }`;

  it('refuses consents nested through Consent.user as it refuses them with first: 100', async () => {
    const given = await verdict(query('(first: 100)', 3));
    expect(given).toMatchObject({ status: 400, message: expect.stringMatching(/Query Cost limit of 20000 exceeded/) });
    expect(await verdict(query('', 3))).toEqual(given);
  });

  it('answers the consents with their user', async () => {
    expect(await verdict(query('', 1))).toEqual({ status: 200, message: undefined, code: undefined });
  });

  it('counts connected agents as a list of a hundred', async () => {
    const agents = (page: string) => `connectedAgents${page} { consent { user { connectedAgents${page} { consent { user { connectedAgents${page} { since } } } } } } }`;
    const given = await verdict(`{ user(id: "usr_nobody") { ${agents('(first: 100)')} } }`);
    expect(given).toMatchObject({ status: 400, message: expect.stringMatching(/Query Cost limit of 20000 exceeded/) });
    expect(await verdict(`{ user(id: "usr_nobody") { ${agents('')} } }`)).toEqual(given);
  });
});

/** One query asking `body` under `count` aliases. */
function aliased(count: number, body: string): string {
  return `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${body}`).join(' ')} }`;
}

/** The status and first error message of a query: the same pair for two queries means the same cost. */
async function verdict(query: string, variables?: Record<string, unknown>) {
  const response = await graphql(hub, query, { token, ...(variables && { variables }) });
  return { status: response.status, message: response.errors?.[0]?.message, code: response.errors?.[0]?.extensions?.code };
}

const orders = (page: string) => `orders${page} { edges { node { id totalMinor currency status placedAt } } }`;
const users = (page: string, inner: string) => `users${page} { edges { node { id ${inner} } } }`;

describe('the cost limit counts a left-out first as the page the resolver returns', () => {
  it('refuses nested connections without first as it refuses them with first: 20', async () => {
    // 7 × (1 + (1 + 1 + 1 + 20 × (1 + 1 + 1 + 5))) × 20 = 22,960: past the limit, where 6 would not be.
    const given = await verdict(aliased(7, users('(first: 20)', orders('(first: 20)'))));
    expect(given).toEqual({ status: 400, message: expect.stringMatching(/^Query Cost limit of 20000 exceeded, found 22960\b/), code: 'BAD_USER_INPUT' });
    const leftOut = aliased(7, users('', orders('')));
    expect(await verdict(leftOut)).toEqual(given);
    // Apollo reuses the parsed document: the second request takes the verdict kept for it.
    expect(await verdict(leftOut)).toEqual(given);
  });

  it('answers the same connections without first below the limit', async () => {
    expect(await verdict(aliased(6, users('', orders(''))))).toEqual({ status: 200, message: undefined, code: undefined });
  });

  it('counts first: null as the page the resolver returns for it', async () => {
    const given = await verdict(aliased(7, users('(first: 20)', orders('(first: 20)'))));
    expect(await verdict(aliased(7, users('(first: null)', orders('(first: null)'))))).toEqual(given);
  });

  it('counts a left-out first inside a fragment', async () => {
    const fragment = (page: string) => `fragment UserOrders on User { ${orders(page)} }`;
    const given = await verdict(`${aliased(7, users('(first: 20)', '...UserOrders'))} ${fragment('(first: 20)')}`);
    expect(given.status).toBe(400);
    expect(await verdict(`${aliased(7, users('', '...UserOrders'))} ${fragment('')}`)).toEqual(given);
  });

  it('counts a left-out first beside a page-size variable', async () => {
    const query = `query($users: Int) { ${['a', 'b'].map((alias) => `${alias}: ${users('(first: $users)', orders(''))}`).join(' ')} }`;
    const given = await verdict(`{ ${['a', 'b'].map((alias) => `${alias}: ${users('(first: 100)', orders('(first: 20)'))}`).join(' ')} }`);
    expect(given.status).toBe(400);
    expect(await verdict(query, { users: 100 })).toEqual(given);
  });

  it('counts an audience page left out as the audience default of 100', async () => {
    const members = (page: string) => `members${page} { edges { node { id email } } }`;
    const saved = (outer: string, inner: string) => aliased(3, `savedAudiences${outer} { edges { node { id ${members(inner)} } } }`);
    const given = await verdict(saved('(first: 20)', '(first: 100)'));
    expect(given.status).toBe(400);
    expect(await verdict(saved('', ''))).toEqual(given);
  });

  it('keeps a literal first as given', async () => {
    expect(await verdict(aliased(15, users('(first: 5)', orders('(first: 5)'))))).toEqual({ status: 200, message: undefined, code: undefined });
  });
});
