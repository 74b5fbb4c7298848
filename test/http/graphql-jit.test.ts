import type { GatewayExecutor, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import SchemaBuilder from '@pothos/core';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub, Services } from '../../src/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser, type GraphqlResponse } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';
import { probeSchema } from '../helpers/probe-schema.js';

const compiles = vi.hoisted(() => ({ count: 0 }));
vi.mock('graphql-jit', async (importOriginal) => {
  const jit = await importOriginal<typeof import('graphql-jit')>();
  return { ...jit, compileQuery: (...args: Parameters<typeof jit.compileQuery>) => (compiles.count++, jit.compileQuery(...args)) };
});
// Loaded afresh, so that they see the mock: a file run before this one in the same process may
// have loaded them with graphql-jit itself (test files share their modules, vitest.config.ts).
// Pothos, a package, is not loaded again: it then meets the hub's own plugin a second time.
SchemaBuilder.allowPluginReRegistration = true;
vi.resetModules();
const { createHub } = await import('../../src/app.js');
const { AccessRecorder } = await import('../../src/audit/access-recorder.js');
const { ANONYMOUS } = await import('../../src/authz/principal.js');
const { loadConfig } = await import('../../src/config.js');
const { COMPILE_AFTER_RUNS, MAX_COMPILED_SELECTIONS, compiledSize, compilingExecutor, hasVariableInObjectLiteral, selectionsOf } = await import('../../src/http/graphql-jit.js');
const { buildHttpServer } = await import('../../src/http/server.js');
const { createLogger } = await import('../../src/shared/logger.js');

type Answer = Pick<GraphqlResponse<any>, 'status' | 'data' | 'errors'>;

/**
 * Sends one request as often as graphql-js executes it before it is compiled, then once more,
 * compiled: the answer of each, having checked that graphql-js answered the same every time and
 * that the last request, and only it, compiled the operation.
 */
async function bothWays(send: () => Promise<GraphqlResponse<any>>): Promise<{ interpreted: Answer; compiled: Answer }> {
  const shown = ({ status, data, errors }: Answer): Answer => ({ status, data, errors });
  const before = compiles.count;
  const interpreted = shown(await send());
  for (let run = 1; run < COMPILE_AFTER_RUNS; run++) expect(shown(await send())).toEqual(interpreted);
  expect(compiles.count).toBe(before);
  const compiled = shown(await send());
  expect(compiles.count).toBe(before + 1);
  return { interpreted, compiled };
}

describe('an operation compiled after its first runs answers as graphql-js does', () => {
  let hub: Hub;
  let marketing: string;
  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
    marketing = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read', 'preferences:read'], 'agt_01J0000000000000000000JITM');
  });
  afterAll(() => hub.close());

  it('an audience page: covered fields, refused ones null with FORBIDDEN, fragments, aliases and directives', async () => {
    for (let i = 0; i < 3; i++) {
      const user = await signUpUser(hub, { country: 'PT', givenName: `Inês ${i}` });
      await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    }
    const query = `query($f: AudienceFilter, $withLocale: Boolean!) { audience(purpose: "email_marketing", filter: $f, first: 10) {
      count: totalCount
      edges { cursor node { id mail: email givenName phone ...Place ... on AudienceMember { locale @include(if: $withLocale) } preferences { interests } } }
      pageInfo { hasNextPage endCursor } } }
      fragment Place on AudienceMember { country createdAt }`;
    const send = (withLocale: boolean) => graphql<any>(hub, query, { token: marketing, variables: { f: { countries: ['PT'] }, withLocale } });
    const { interpreted, compiled } = await bothWays(() => send(true));
    expect(interpreted.data.audience.edges).toHaveLength(3);
    expect(interpreted.errors).toHaveLength(6);
    expect(interpreted.errors![0]).toMatchObject({ path: ['audience', 'edges', 0, 'node', 'givenName'], extensions: { code: 'FORBIDDEN', reason: 'PURPOSE_NOT_COVERED' } });
    expect(compiled).toEqual(interpreted);
    // The compiled operation decides @include by each request's variables, not the first's.
    const without = await send(false);
    expect(without.data.audience.edges.map((e: any) => 'locale' in e.node)).toEqual([false, false, false]);
    expect(without.data.audience.edges.map((e: any) => e.node.mail)).toEqual(interpreted.data.audience.edges.map((e: any) => e.node.mail));
  });

  it('a query refused as a whole, and a variable refused by a scalar, word and place their errors alike', async () => {
    const user = await signUpUser(hub);
    const refused = await bothWays(() => graphql(hub, '{ users(first: 5) { edges { node { id } } } }', { token: user.accessToken }));
    expect(refused.interpreted.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect(refused.compiled).toEqual(refused.interpreted);

    const update = 'mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { birthdate } }';
    const badDate = await bothWays(() => graphql(hub, update, { token: user.accessToken, variables: { input: { birthdate: '2023-02-30' } } }));
    expect(badDate.interpreted).toMatchObject({ status: 400, errors: [{ message: expect.stringContaining('must be a calendar date as YYYY-MM-DD'), extensions: { code: 'BAD_USER_INPUT' } }] });
    expect(badDate.compiled).toEqual(badDate.interpreted);
  });

  it('a form that sends only what changed, as variables in the input it writes out, leaves the rest as it was on every run', async () => {
    const user = await signUpUser(hub);
    const set = await graphql(hub, 'mutation { updateProfile(input: { phone: "+447700900123", preferences: { interests: ["running"] } }) { phone } }', { token: user.accessToken });
    expect(set.errors).toBeUndefined();
    const form = 'mutation($given: String, $phone: String, $prefs: PreferencesInput) { updateProfile(input: { givenName: $given, phone: $phone, preferences: $prefs }) { givenName phone preferences { interests } } }';
    const before = compiles.count;
    for (let run = 1; run <= COMPILE_AFTER_RUNS + 2; run++) {
      const answer = await graphql(hub, form, { token: user.accessToken, variables: { given: `Ana ${run}` } });
      expect(answer.data).toEqual({ updateProfile: { givenName: `Ana ${run}`, phone: '+447700900123', preferences: { interests: ['running'] } } });
    }
    expect(compiles.count).toBe(before);
  });
});

describe('an error a resolver throws, compiled', () => {
  let database: TestDatabase;
  let server: Pick<Hub, 'http'>;
  beforeAll(async () => {
    database = await createTestDatabase();
    const config = loadConfig(TEST_ENV);
    const services = { config, db: database.db, logger: createLogger(config) };
    const http = await buildHttpServer({
      config,
      logger: services.logger,
      database,
      schema: probeSchema().schema,
      createContext: async (request) => ({ requestId: request.id, address: request.ip, principal: ANONYMOUS, services: services as unknown as Services, access: new AccessRecorder() }),
    });
    server = { http };
  });
  afterAll(async () => {
    await server.http.close();
    await database.close();
  });

  it('is masked with its place in the document and the answer, as graphql-js masks it', async () => {
    const { interpreted, compiled } = await bothWays(() => graphql(server, '{ boom node { value } }'));
    expect(interpreted).toEqual({
      status: 200,
      data: { boom: null, node: { value: 1 } },
      errors: [{ message: 'Internal server error', locations: [{ line: 1, column: 3 }], path: ['boom'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
    });
    expect(compiled).toEqual(interpreted);
  });
});

describe('what is compiled, and kept', () => {
  const { schema } = probeSchema();
  const operationOf = (query: string) => {
    const document = parse(query);
    return { document, operation: document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)! };
  };
  /** Runs `query` `times` times through the executor; resolves to the compilations it took. */
  async function compilationsOf(executor: GatewayExecutor, query: ReturnType<typeof operationOf>, times: number): Promise<number> {
    const before = compiles.count;
    for (let run = 0; run < times; run++) {
      const result = await executor({ ...query, operationName: null, request: { variables: {} }, context: {} } as unknown as GatewayGraphQLRequestContext);
      expect(result.errors).toBeUndefined();
    }
    return compiles.count - before;
  }
  const executorOf = async (compiledBytes?: number) => (await compilingExecutor(schema, compiledBytes).load({ apollo: {} })).executor!;

  it('counts selections with fragments expanded, and stops counting past the limit', () => {
    const small = operationOf('{ node { value ...Twice } } fragment Twice on Node { child { value } other: child { value } }');
    expect(selectionsOf(small.document, small.operation, 100)).toBe(7);
    // Each fragment spreads the next five times: expanded, 5^20 selections.
    const levels = Array.from({ length: 20 }, (_, i) => `fragment F${i} on Node { ${`...F${i + 1} `.repeat(5)} }`).join('\n');
    const bomb = operationOf(`{ node { ...F0 } }\n${levels}\nfragment F20 on Node { value }`);
    expect(selectionsOf(bomb.document, bomb.operation, MAX_COMPILED_SELECTIONS)).toBe(MAX_COMPILED_SELECTIONS + 1);
  });

  it('never compiles an operation with a variable inside an input object it writes out, which graphql-jit would pass as null when left out', async () => {
    const inObject = ['mutation($p: String) { u(input: { phone: $p }) }', 'query($c: [String!]) { a(f: { nested: { list: [$c] } }) }'];
    const elsewhere = ['query($f: F) { a(filter: $f) }', 'query($n: Int) { a(first: $n, f: { list: [1, 2] }) }', '{ a(f: { x: 1 }) }'];
    expect(inObject.map((q) => hasVariableInObjectLiteral(parse(q)))).toEqual([true, true]);
    expect(elsewhere.map((q) => hasVariableInObjectLiteral(parse(q)))).toEqual([false, false, false]);
  });

  it('never compiles an operation past the selections limit', async () => {
    const fields = Array.from({ length: MAX_COMPILED_SELECTIONS }, (_, i) => `v${i}: value`).join(' ');
    const large = operationOf(`{ node { ${fields} } }`);
    expect(await compilationsOf(await executorOf(), large, COMPILE_AFTER_RUNS * 3)).toBe(0);
  });

  it('drops the least recently run compiled operation past its memory, and compiles it again only after as many runs', async () => {
    const first = operationOf('{ node { value } }');
    const second = operationOf('{ node { child { value } } }');
    // Room for the larger of the two alone.
    const executor = await executorOf(compiledSize(second.document, selectionsOf(second.document, second.operation, 10)));
    expect(await compilationsOf(executor, first, COMPILE_AFTER_RUNS + 1)).toBe(1);
    expect(await compilationsOf(executor, first, 5)).toBe(0);
    expect(await compilationsOf(executor, second, COMPILE_AFTER_RUNS + 1)).toBe(1);
    expect(await compilationsOf(executor, first, COMPILE_AFTER_RUNS)).toBe(0);
    expect(await compilationsOf(executor, first, 1)).toBe(1);
  });

  it('frees the code of a compiled operation it drops: however many new documents come, memory stays within its bound', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const executor = await executorOf(2 * 2 ** 20);
    const heapAfterCollecting = () => (gc(), gc(), process.memoryUsage().heapUsed);
    const before = heapAfterCollecting();
    // Each alias is spelled out in the code compiled for its document: 300 of 100,000 characters.
    for (let n = 0; n < 300; n++) await compilationsOf(executor, operationOf(`{ a${n}${'x'.repeat(100_000)}: node { value } }`), COMPILE_AFTER_RUNS + 1);
    expect(heapAfterCollecting() - before).toBeLessThan(24 * 2 ** 20);
  }, 120_000);

  it('counts the text of a document in its memory: one of few selections but long literals or comments takes its room', async () => {
    const small = operationOf('{ node { value } }');
    const long = operationOf(`# ${'x'.repeat(50_000)}\n{ node { value } }`);
    expect(compiledSize(long.document, 2)).toBeGreaterThan(50_000 * 4);
    // Room for ten small ones, not for the long one: it runs on graphql-js however often it is sent.
    const executor = await executorOf(10 * compiledSize(small.document, 2));
    expect(await compilationsOf(executor, long, COMPILE_AFTER_RUNS * 3)).toBe(0);
    expect(await compilationsOf(executor, small, COMPILE_AFTER_RUNS + 1)).toBe(1);
  });
});
