import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AccessRecorder } from '../../src/audit/access-recorder.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import { buildHttpServer } from '../../src/http/server.js';
import { GRAPHQL_LIMITS } from '../../src/http/graphql.js';
import { MAX_VARIABLES_DEPTH } from '../../src/http/unstorable-text.js';
import { createLogger } from '../../src/shared/logger.js';
import type { Hub, Services } from '../../src/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { PRODUCTION_ENV, TEST_ENV, graphql } from '../helpers/hub.js';
import { probeSchema } from '../helpers/probe-schema.js';

let database: TestDatabase;
let probe: ReturnType<typeof probeSchema>;
let server: Pick<Hub, 'http'>;

async function probeServer(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({ ...TEST_ENV, ...env });
  const services = { config, db: database.db, logger: createLogger(config) };
  return buildHttpServer({
    config,
    logger: services.logger,
    database,
    schema: probe.schema,
    createContext: async (request) => ({ requestId: request.id, address: request.ip, principal: ANONYMOUS, services: services as unknown as Services, access: new AccessRecorder() }),
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  probe = probeSchema();
  server = { http: await probeServer() };
});
afterAll(async () => {
  await server.http.close();
  await database.close();
});

function nested(depth: number): string {
  return `{ node { ${'child { '.repeat(depth)}value${' }'.repeat(depth)} } }`;
}

describe('limits refused before any resolver runs', () => {
  it('answers a query within the depth limit', async () => {
    const response = await graphql(server, nested(GRAPHQL_LIMITS.maxDepth - 3));
    expect(response.errors).toBeUndefined();
  });

  it.each([
    ['a query deeper than the limit', nested(GRAPHQL_LIMITS.maxDepth + 5)],
    ['a 1,000-alias query', `{ ${Array.from({ length: 1_000 }, (_, i) => `a${i}: boom`).join(' ')} }`],
    ['a query past the token limit', `{ node { ${'value '.repeat(GRAPHQL_LIMITS.maxTokens)} } }`],
  ])('refuses %s', async (_, query) => {
    const before = probe.calls.count;
    const response = await graphql(server, query);
    expect(response.status).toBe(400);
    expect(response.data).toBeUndefined();
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(probe.calls.count).toBe(before);
  });

  it.each([
    ['depth', nested(GRAPHQL_LIMITS.maxDepth + 5), /^Query depth limit of 10 exceeded, found \d+\.$/],
    ['aliases', `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: boom`).join(' ')} }`, /^Aliases limit of 15 exceeded, found 16\.$/],
    ['directives', `{ ${'boom @include(if: true) '.repeat(21)}}`, /^Directives limit of 20 exceeded, found 21\.$/],
  ])('names a refusal for %s as the limit it is: the document parsed, so it is no syntax error', async (_, query, message) => {
    const response = await graphql(server, query);
    expect(response.errors).toEqual([expect.objectContaining({ message: expect.stringMatching(message), extensions: { code: 'BAD_USER_INPUT' } })]);
  });

  it('names a document that does not parse a syntax error', async () => {
    const response = await graphql(server, '{ boom ');
    expect(response.errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/^Syntax Error: Expected Name, found <EOF>\.$/), extensions: { code: 'BAD_USER_INPUT' } })]);
  });

  it('refuses variables nested past the limit as bad input, however deep, and takes them up to it', async () => {
    const nestedVariables = (levels: number) => `{"x":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
    const post = (variables: string) =>
      server.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: `{"query":"{ slow }","variables":${variables}}` });
    const before = probe.calls.count;
    // 60,000 levels fit in the body limit; walking them whole would overflow the stack.
    for (const levels of [MAX_VARIABLES_DEPTH + 1, 60_000]) {
      const response = await post(nestedVariables(levels));
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ errors: [{ message: `Variables may nest lists and objects at most ${MAX_VARIABLES_DEPTH} levels deep`, extensions: { code: 'BAD_USER_INPUT' } }] });
    }
    expect(probe.calls.count).toBe(before);
    expect((await post(nestedVariables(MAX_VARIABLES_DEPTH))).json()).toEqual({ data: { slow: 7 } });
  });

  it('refuses a JSON array batch', async () => {
    const before = probe.calls.count;
    const response = await server.http.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify([{ query: '{ slow }' }, { query: '{ slow }' }]),
    });
    expect(response.statusCode).toBe(400);
    expect(probe.calls.count).toBe(before);
  });

  it('refuses a body over the size limit with 413', async () => {
    const response = await server.http.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ query: `{ slow } # ${'x'.repeat(200 * 1024)}` }),
    });
    expect(response.statusCode).toBe(413);
  });
});

describe('errors', () => {
  it('masks an error thrown inside a resolver: code only, no message, no stack', async () => {
    const response = await graphql(server, '{ boom node { value } }');
    expect(response.status).toBe(200);
    expect(response.data).toEqual({ boom: null, node: { value: 1 } });
    expect(response.errors).toEqual([
      { message: 'Internal server error', locations: [{ line: 1, column: 3 }], path: ['boom'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
    expect(JSON.stringify(response)).not.toMatch(/secret_table|\/srv|stack/);
  });

  it('gives no field suggestion for a misspelled field', async () => {
    const response = await graphql(server, '{ nod { value } }');
    expect(response.errors?.[0]).toMatchObject({ message: 'Cannot query field "nod" on type "Query".', extensions: { code: 'BAD_USER_INPUT' } });
    expect(JSON.stringify(response)).not.toMatch(/did you mean/i);
  });
});

describe('HTTP transport', () => {
  it('serves queries over GET with a preflight header, and refuses GETs a browser could forge', async () => {
    const ok = await server.http.inject({ method: 'GET', url: '/graphql?query={slow}', headers: { 'apollo-require-preflight': 'true' } });
    expect(JSON.parse(ok.body)).toEqual({ data: { slow: 7 } });
    const csrf = await server.http.inject({ method: 'GET', url: '/graphql?query={slow}' });
    expect(csrf.statusCode).toBe(400);
  });

  it.each([
    ['a GET of a mutation', 'GET', 'mutation M { touch }'],
    ['a POST of a query', 'POST', '{ node { value } }'],
  ])('refuses %s under an operationName its document does not hold, running nothing', async (_, method, query) => {
    const before = probe.calls.count;
    const params = { query, operationName: 'Nope' };
    const response =
      method === 'GET'
        ? await server.http.inject({ method: 'GET', url: `/graphql?${new URLSearchParams(params)}`, headers: { 'apollo-require-preflight': 'true' } })
        : await server.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: params });
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).errors).toEqual([{ message: 'Unknown operation named "Nope".', extensions: { code: 'BAD_USER_INPUT' } }]);
    expect(probe.calls.count).toBe(before);
  });

  it('refuses a text/plain POST, which a browser could send cross-site', async () => {
    const response = await server.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'text/plain' }, payload: '{"query":"{ slow }"}' });
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.body).not.toContain('"slow":7');
  });

  it('echoes a sane request id and replaces a hostile one', async () => {
    const kept = await graphql(server, '{ slow }', { headers: { 'x-request-id': 'trace-123' } });
    expect(kept.headers['x-request-id']).toBe('trace-123');
    const replaced = await graphql(server, '{ slow }', { headers: { 'x-request-id': 'bad id\u0000<script>' } });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('introspection', () => {
  const query = '{ __schema { queryType { name } } }';

  it('is open outside production', async () => {
    expect((await graphql(server, query)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('is refused in production to callers without an operator token', async () => {
    const production = await probeServer(PRODUCTION_ENV);
    try {
      const response = await graphql({ http: production }, query);
      expect(response.status).toBe(403);
      expect(response.data ?? null).toBeNull();
      expect(response.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
      expect((await graphql({ http: production }, '{ slow }')).data).toEqual({ slow: 7 });
    } finally {
      await production.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('finishes a request in flight, then stops accepting', async () => {
    const http = await probeServer();
    const url = `${await http.listen({ host: '127.0.0.1', port: 0 })}/graphql`;
    const started = probe.calls.count;
    const inFlight = fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ slow }"}' });
    // In flight once its resolver runs (it then takes 300 ms): however long the request took to arrive.
    await expect.poll(() => probe.calls.count, { interval: 5 }).toBeGreaterThan(started);
    const closed = http.close();
    const response = await inFlight;
    expect(await response.json()).toEqual({ data: { slow: 7 } });
    await closed;
    await expect(fetch(url, { method: 'POST', body: '{}' })).rejects.toThrow();
  });
});
