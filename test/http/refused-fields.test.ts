import { getLocation, GraphQLObjectType, Source, type GraphQLResolveInfo } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub } from '../../src/app.js';
import { isLeftOut, MAX_CLIENT_ERRORS } from '../../src/graphql/error-budget.js';
import { lineBreaksOf, locatedError, locatedRefusal, locationOf } from '../../src/graphql/located-error.js';
import { schema } from '../../src/graphql/schema.js';
import { COMPILE_AFTER_RUNS } from '../../src/http/graphql-jit.js';
import { BadUserInputError, ForbiddenError } from '../../src/shared/errors.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';
import { lineScansDuring } from '../helpers/line-scans.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';

// A user's own 25 agents, read through the graph's cycle, are 625 users, each refused `status`
// (users:admin) under 13 aliases: 8,125 refused fields from one request, each its own error up to
// the most an answer carries.
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

/**
 * How many stack frames are formatted while `run` runs: captured stacks are formatted (through
 * the source maps the hub runs with) when read, or when graphql-js wraps an error in another.
 */
async function stackFramesDuring<T>(run: () => Promise<T>): Promise<{ result: T; frames: number }> {
  const prepare = Error.prepareStackTrace;
  let frames = 0;
  Error.prepareStackTrace = (error, stack) => {
    frames += stack.length;
    return prepare ? prepare(error, stack) : `${error}`;
  };
  try {
    return { result: await run(), frames };
  } finally {
    Error.prepareStackTrace = prepare;
  }
}

describe('refused fields and field errors', () => {
  it('are located without reading the document from its start for each: its line breaks are found once', async () => {
    // 50,000 line breaks before the refused fields; graphql-js counted them all for each error,
    // 15 s of CPU for this request.
    const { result: response, scans } = await lineScansDuring(() => graphql<any>(hub, cycle('\n'.repeat(50_000)), { token: user.accessToken }));
    expect(response.errors).toHaveLength(MAX_CLIENT_ERRORS + 1);
    expect(response.errors?.[0]).toMatchObject({ locations: [{ line: 50_001, column: 2 }], extensions: { code: 'FORBIDDEN', reason: 'MISSING_SCOPE' } });
    expect(scans).toBe(1);
  }, 120_000);

  it('as every error a resolver throws, are located with the line breaks found once', async () => {
    // A cursor refused by `orders` under each of 625 users, 9 times: 5,625 errors.
    const orders = Array.from({ length: 9 }, (_, i) => `o${i}: orders(first: 0, after: "x") { pageInfo { hasNextPage } }`).join(' ');
    const query = `{ me { connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { consent { user {${'\n'.repeat(50_000)} ${orders} } } } } } } } }`;
    const { result: response, scans } = await lineScansDuring(() => graphql<any>(hub, query, { token: user.accessToken }));
    expect(response.errors).toHaveLength(MAX_CLIENT_ERRORS + 1);
    expect(response.errors?.[0]).toEqual({
      message: 'after: is not a cursor of this list',
      locations: [{ line: 50_001, column: 2 }],
      path: ['me', 'connectedAgents', 0, 'consent', 'user', 'connectedAgents', 0, 'consent', 'user', 'o0'],
      extensions: { code: 'BAD_USER_INPUT', field: 'after' },
    });
    expect(scans).toBe(1);
  }, 120_000);

  it('as an error a resolver throws before it returns, are located with the line breaks found once and counted toward the most', async () => {
    // A page size refused as the resolver starts (a negative one, which costs nothing), under each of 25 users, 5 times: 125 errors.
    const consents = Array.from({ length: 5 }, (_, i) => `c${i}: consents(first: -1) { id }`).join(' ');
    const query = `{ me { connectedAgents(first: 25) { consent { user {${'\n'.repeat(50_000)} ${consents} } } } } }`;
    const { result: response, scans } = await lineScansDuring(() => graphql<any>(hub, query, { token: user.accessToken }));
    expect(response.errors).toHaveLength(MAX_CLIENT_ERRORS + 1);
    expect(response.errors?.[0]).toEqual({
      message: 'first: must be from 0 to 100',
      locations: [{ line: 50_001, column: 2 }],
      path: ['me', 'connectedAgents', 0, 'consent', 'user', 'c0'],
      extensions: { code: 'BAD_USER_INPUT', field: 'first' },
    });
    expect(response.errors?.at(-1)?.message).toMatch(/^25 more errors were left out/);
    expect(scans).toBe(1);
  }, 120_000);

  it('thrown by a resolver past the most an answer carries are left out when the client’s, never when the hub’s own', () => {
    const context = {};
    const info = { path: { prev: undefined, key: 'orders', typename: 'User' }, fieldNodes: [] } as unknown as GraphQLResolveInfo;
    const refusal = () => new BadUserInputError('after', 'is not a cursor of this list');
    for (let i = 0; i < MAX_CLIENT_ERRORS; i++) expect(isLeftOut(locatedError(context, info, refusal()))).toBe(false);
    expect(isLeftOut(locatedError(context, info, refusal()))).toBe(true);
    const failure = new Error('connection terminated');
    const located = locatedError(context, info, failure);
    expect(isLeftOut(located)).toBe(false);
    expect(located).toMatchObject({ message: 'connection terminated', path: ['orders'], originalError: failure });
  });

  it('capture and format no stack, the errors of a resolver neither, whether graphql-js or graphql-jit runs the query', async () => {
    // Each error wrapped in another formatted the stack captured for the wrapper, only to replace it:
    // a refused cursor under each of 625 users, 9 times, took 0.7 s of CPU, half of it for stacks.
    const orders = Array.from({ length: 9 }, (_, i) => `o${i}: orders(first: 0, after: "x") { pageInfo { hasNextPage } }`).join(' ');
    const cursors = `query Cursors { me { connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { consent { user { ${orders} } } } } } } } }`;
    const statuses = `query Statuses { me { connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { consent { user { ${refused} } } } } } } } }`;
    for (const query of [cursors, statuses]) {
      for (let run = 0; run <= COMPILE_AFTER_RUNS; run++) {
        const { result: response, frames } = await stackFramesDuring(() => graphql<any>(hub, query, { token: user.accessToken }));
        expect(response.errors).toHaveLength(MAX_CLIENT_ERRORS + 1);
        expect(frames).toBe(0);
      }
    }
  }, 120_000);

  it('are answered up to 100, then one more saying how many were left out, whether graphql-js or graphql-jit runs the query', async () => {
    // Each error was made, logged for, formatted and written: 9,375 under 15 aliases took 0.23 s of CPU.
    const query = `query LeftOut { me { connectedAgents(first: 25) { consent { user { connectedAgents(first: 25) { consent { user { ${refused} } } } } } } } }`;
    for (let run = 0; run <= COMPILE_AFTER_RUNS; run++) {
      const response = await graphql<any>(hub, query, { token: user.accessToken });
      expect(response.errors).toHaveLength(MAX_CLIENT_ERRORS + 1);
      expect(response.errors?.slice(0, MAX_CLIENT_ERRORS).every((error) => error.extensions?.reason === 'MISSING_SCOPE' && error.path?.length === 10)).toBe(true);
      expect(response.errors?.at(-1)).toEqual({
        message: `${8_125 - MAX_CLIENT_ERRORS} more errors were left out: an answer carries at most ${MAX_CLIENT_ERRORS} (the fields they were about are null all the same)`,
        extensions: { code: 'BAD_USER_INPUT' },
      });
      const users = response.data.me.connectedAgents.flatMap((c: any) => c.consent.user.connectedAgents.map((d: any) => d.consent.user));
      expect(users).toHaveLength(625);
      expect(users.every((u: any) => Object.keys(u).length === 13 && Object.values(u).every((status) => status === null))).toBe(true);
    }
  }, 120_000);

  it('past the most an answer carries, are not made: one error stands for them all', () => {
    const context = {};
    const info = { path: { prev: undefined, key: 'status', typename: 'User' }, fieldNodes: [] } as unknown as GraphQLResolveInfo;
    const refuse = vi.fn(() => new ForbiddenError('MISSING_SCOPE'));
    const errors = Array.from({ length: 3 * MAX_CLIENT_ERRORS }, () => locatedRefusal(context, info, refuse));
    expect(refuse).toHaveBeenCalledTimes(MAX_CLIENT_ERRORS);
    expect(new Set(errors.slice(MAX_CLIENT_ERRORS)).size).toBe(1);
    expect(errors.slice(MAX_CLIENT_ERRORS).every(isLeftOut)).toBe(true);
    // Another request has its own.
    expect(locatedRefusal({}, info, refuse)).toMatchObject({ path: ['status'], extensions: { code: 'FORBIDDEN' } });
  });

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

  it('leave a field read from its parent as it is without a resolver, which graphql-jit compiles to a property read', () => {
    const address = schema.getType('Address') as GraphQLObjectType;
    expect(address.getFields().city!.resolve).toBeUndefined();
  });

  it('name the places graphql-js names, whatever the line breaks', () => {
    const text = 'a\r\nb\rc\n\nd\r\n\r\ne\n\r\rf';
    const breaks = lineBreaksOf(text);
    for (let position = 0; position <= text.length; position++) expect(locationOf(breaks, position)).toEqual(getLocation(new Source(text), position));
  });
});
