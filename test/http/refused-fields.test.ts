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

describe('refused fields', () => {
  it('cost no more for the blank lines above them: each error is located without reading the document from its start', async () => {
    // 50,000 line breaks before the refused fields; graphql-js counted them all for each error.
    const started = process.cpuUsage();
    const response = await graphql<any>(hub, cycle('\n'.repeat(50_000)), { token: user.accessToken });
    const { user: userMs, system } = process.cpuUsage(started);
    expect(response.errors).toHaveLength(8_125);
    expect(response.errors?.[0]).toMatchObject({ locations: [{ line: 50_001, column: 2 }], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } });
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
