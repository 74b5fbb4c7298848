import { getLocation, Source } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { lineBreaksOf, locationOf } from '../../src/graphql/located-error.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';

// A user's own 25 agents, read through the graph's cycle, are 625 users, each refused `status`
// (users:admin) under 13 aliases: 8,125 refused fields, each its own error, from one request.
let hub: Hub;
let user: Awaited<ReturnType<typeof signUpUser>>;
const refused = Array.from({ length: 13 }, (_, i) => `s${i}: status`).join(' ');
const cycle = (padding = '') => `{ me { connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { consent { user {${padding} ${refused} } } } } } } } }`;

beforeAll(async () => {
  hub = await startTestHub();
  user = await signUpUser(hub);
  for (let i = 0; i < 25; i++) {
    const agent = await registerAgent(hub, user.accessToken, { name: `Agent ${i}`, allowedScopes: ['contact:read'] });
    await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['contact:read'] });
  }
}, 60_000);
afterAll(() => hub.close());

describe('refused fields and field errors', () => {
  it('cost no more for the blank lines above them: each error is located without reading the document from its start', async () => {
    // 50,000 line breaks before the refused fields; graphql-js counted them all for each error.
    const started = process.cpuUsage();
    const response = await graphql<any>(hub, cycle('\n'.repeat(50_000)), { token: user.accessToken });
    const { user: userMs, system } = process.cpuUsage(started);
    expect(response.errors).toHaveLength(8_125);
    expect(response.errors?.[0]).toMatchObject({ locations: [{ line: 50_001, column: 2 }], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } });
    expect((userMs + system) / 1_000).toBeLessThan(3_000);
  }, 120_000);

  it('as every error a resolver throws, cost no more for the blank lines above them', async () => {
    // A cursor refused by `orders` under each of 625 users, 9 times: 5,625 errors.
    const orders = Array.from({ length: 9 }, (_, i) => `o${i}: orders(first: 0, after: "x") { pageInfo { hasNextPage } }`).join(' ');
    const query = `{ me { connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { consent { user {${'\n'.repeat(50_000)} ${orders} } } } } } } } }`;
    const started = process.cpuUsage();
    const response = await graphql<any>(hub, query, { token: user.accessToken });
    const { user: userMs, system } = process.cpuUsage(started);
    expect(response.errors).toHaveLength(5_625);
    expect(response.errors?.[0]).toEqual({
      message: 'after: is not a cursor of this list',
      locations: [{ line: 50_001, column: 2 }],
      path: ['me', 'connectedAgents', 0, 'consent', 'user', 'connectedAgents', 0, 'consent', 'user', 'o0'],
      extensions: { code: 'BAD_USER_INPUT', field: 'after' },
    });
    expect((userMs + system) / 1_000).toBeLessThan(3_000);
  }, 120_000);

  it('carry the path and locations graphql-js gives a field error', async () => {
    const query = '{\r\n me {\r  id\n  connectedAgents(first: 2) {\r\n    consent { user { a: status\n b: status } }\n  }\n  }\n}';
    const response = await graphql<any>(hub, query, { token: user.accessToken });
    expect(response.errors).toEqual([
      { message: 'Not allowed', locations: [{ line: 5, column: 22 }], path: ['me', 'connectedAgents', 0, 'consent', 'user', 'a'], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } },
      { message: 'Not allowed', locations: [{ line: 6, column: 2 }], path: ['me', 'connectedAgents', 0, 'consent', 'user', 'b'], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } },
      { message: 'Not allowed', locations: [{ line: 5, column: 22 }], path: ['me', 'connectedAgents', 1, 'consent', 'user', 'a'], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } },
      { message: 'Not allowed', locations: [{ line: 6, column: 2 }], path: ['me', 'connectedAgents', 1, 'consent', 'user', 'b'], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } },
    ]);
  });

  it('name the places graphql-js names, whatever the line breaks', () => {
    const text = 'a\r\nb\rc\n\nd\r\n\r\ne\n\r\rf';
    const breaks = lineBreaksOf(text);
    for (let position = 0; position <= text.length; position++) expect(locationOf(breaks, position)).toEqual(getLocation(new Source(text), position));
  });
});
