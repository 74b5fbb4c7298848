import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub } from '../../src/app.js';
import { jsonLonger, MAX_ANSWER_CHARACTERS } from '../../src/http/graphql-answer-size.js';
import { EXPORT_STALL_TIMEOUT_MS } from '../../src/http/released-body.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';

// The cost limit counts values, not their size: a user's own 25 agents, each with a description
// of 2,000 characters, read through the graph's cycle and 14 aliases make a 331-byte query whose
// answer is about 50 MB; six at once exhausted a 256 MiB heap.
let hub: Hub;
let user: Awaited<ReturnType<typeof signUpUser>>;
const cycle = (aliases: number) =>
  `{ me { connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { agent { ${Array.from({ length: aliases }, (_, i) => `d${i}: description`).join(' ')} } } } } } } }`;

beforeAll(async () => {
  hub = await startTestHub();
  user = await signUpUser(hub);
  for (let i = 0; i < 25; i++) {
    const agent = await registerAgent(hub, user.accessToken, { name: `Agent ${i}`, description: '中'.repeat(2_000), allowedScopes: ['contact:read'] });
    await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['contact:read'] });
  }
}, 60_000);
afterAll(() => hub.close());

describe('a GraphQL answer', () => {
  it('is not sent past the size bound: data null and one BAD_USER_INPUT saying why', async () => {
    const response = await graphql<any>(hub, cycle(14), { token: user.accessToken });
    expect(response.data).toBeNull();
    expect(response.errors).toEqual([{ message: expect.stringMatching(/^The answer would be larger than 4 MiB of JSON and was not sent/), extensions: { code: 'BAD_USER_INPUT' } }]);
    expect(JSON.stringify(response.errors).length).toBeLessThan(1_000);
  });

  it('is not sent past the size bound when its errors would pass it: each path repeats the aliases above its field', async () => {
    // The 100 errors an answer carries of 8,125 refused fields, under one alias of 50,000 characters: 5 MB of errors from 50 KB.
    const alias = 'a'.repeat(50_000);
    const refused = Array.from({ length: 13 }, (_, i) => `s${i}: status`).join(' ');
    const response = await graphql<any>(hub, `{ me { ${alias}: connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { consent { user { ${refused} } } } } } } } }`, {
      token: user.accessToken,
    });
    expect(response.data).toBeNull();
    expect(response.errors).toEqual([{ message: expect.stringMatching(/^The answer would be larger than 4 MiB of JSON and was not sent/), extensions: { code: 'BAD_USER_INPUT' } }]);
  });

  it('is sent with its errors below it', async () => {
    const response = await graphql<any>(hub, '{ me { connectedAgents(first: 25) { consent { user { id status } } } } }', { token: user.accessToken });
    expect(response.data.me.connectedAgents).toHaveLength(25);
    expect(response.errors).toHaveLength(25);
    expect(response.errors?.every((error) => error.extensions?.code === 'FORBIDDEN')).toBe(true);
  });

  it('is sent whole below it, though large', async () => {
    const response = await graphql<any>(hub, cycle(2), { token: user.accessToken });
    expect(response.errors).toBeUndefined();
    const agents = response.data.me.connectedAgents.flatMap((c: any) => c.consent.user.connectedAgents);
    expect(agents).toHaveLength(625);
    expect(agents.every((a: any) => a.agent.d1.length === 2_000)).toBe(true);
  });

  it('is cut off once its reader takes no byte for as long as an export’s may not', async () => {
    // Armed as the answer is sent (`cutOffWhenStalled`, whose cut the export tests watch happen):
    // once sent, the connection's keep-alive timeout takes over, so it is seen as it is armed.
    const armed = vi.spyOn(http.ServerResponse.prototype, 'setTimeout');
    try {
      if (!hub.http.server.listening) await hub.listen();
      const { port } = hub.http.server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      expect(response.status).toBe(200);
      await response.text();
      expect(armed.mock.calls.map(([ms]) => ms)).toContain(EXPORT_STALL_TIMEOUT_MS);
    } finally {
      armed.mockRestore();
    }
  });
});

describe('jsonLonger', () => {
  it('measures JSON as written: strings with quotes, keys with quotes and colon', () => {
    const value = { a: 'x'.repeat(100), b: ['y'.repeat(50), 'z'] };
    const written = JSON.stringify(value).length;
    expect(jsonLonger(value, written - 10)).toBe(true);
    expect(jsonLonger(value, written + 10)).toBe(false);
    expect(jsonLonger({ deep: [[[['w'.repeat(MAX_ANSWER_CHARACTERS)]]]] }, MAX_ANSWER_CHARACTERS)).toBe(true);
    // Short strings are mostly quotes and commas: a list of empty ones is three characters each.
    const empty = Array<string>(1_000).fill('');
    expect(jsonLonger(empty, JSON.stringify(empty).length - 1)).toBe(true);
  });
});
