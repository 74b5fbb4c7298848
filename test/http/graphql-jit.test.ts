import type { GatewayExecutor, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import SchemaBuilder from '@pothos/core';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub, Services } from '../../src/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser, type GraphqlResponse } from '../helpers/hub.js';
import { heapAfterCollecting } from '../helpers/heap.js';
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
const { COMPILE_AFTER_RUNS, MAX_COMPILED_NAME, MAX_COMPILED_SELECTIONS, compilable, compileOperation, compiledSize, compilingExecutor, hasVariableInObjectLiteral, selectionsOf } =
  await import('../../src/http/graphql-jit.js');
const { BYTES_PER_TOKEN } = await import('../../src/http/graphql-documents.js');
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

    const members = 'query($f: AudienceFilter) { audience(purpose: "email_marketing", filter: $f, first: 1) { totalCount } }';
    const badDate = await bothWays(() => graphql(hub, members, { token: marketing, variables: { f: { signedUpAfter: '2023-02-30T00:00:00Z' } } }));
    expect(badDate.interpreted).toMatchObject({ status: 400, errors: [{ message: expect.stringContaining('$f'), extensions: { code: 'BAD_USER_INPUT' } }] });
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

  /** Sends one request more often than an operation takes to be compiled: the answer, the same each time, and no compilation. */
  async function neverCompiled(send: () => Promise<GraphqlResponse<any>>): Promise<Answer> {
    const shown = ({ status, data, errors }: Answer): Answer => ({ status, data, errors });
    const before = compiles.count;
    const first = shown(await send());
    for (let run = 0; run < COMPILE_AFTER_RUNS * 2; run++) expect(shown(await send())).toEqual(first);
    expect(compiles.count).toBe(before);
    return first;
  }

  it('never a mutation: one whose field fails as a whole runs none after it, and one refusing an argument answers', async () => {
    const user = await signUpUser(hub, { givenName: 'Before' });
    const refusedFirst = 'mutation { withdrawConsent(id: "cns_01J00000000000000000000000") { id } updateProfile(input: { givenName: "After" }) { givenName } }';
    const answer = await neverCompiled(() => graphql(hub, refusedFirst, { token: user.accessToken }));
    expect(answer).toMatchObject({ data: null, errors: [{ path: ['withdrawConsent'] }] });
    expect((await graphql<any>(hub, '{ me { givenName } }', { token: user.accessToken })).data.me.givenName).toBe('Before');
    // A nullable variable with a default may stand where the argument is non-null (GraphQL spec §5.8.5); null is then refused.
    const nullArgument = 'mutation($id: ID = "cns_x") { updateProfile(input: { givenName: "Ana" }) { givenName } withdrawConsent(id: $id) { id } }';
    expect(await neverCompiled(() => graphql(hub, nullArgument, { token: user.accessToken, variables: { id: null } }))).toMatchObject({ data: null });
  });

  it('never a fragment spread under @include or @skip: each place keeps its own condition', async () => {
    const [a, b] = [await signUpUser(hub), await signUpUser(hub)];
    const admin = await clientToken(hub, ['users:admin', 'contact:read'], 'agt_01J0000000000000000000JITA');
    const query = `query($a: Boolean!, $b: Boolean!) { x: user(id: "${a.id}") { ...F @include(if: $a) } y: user(id: "${b.id}") { ... on User @skip(if: $b) { ...F } ...F @include(if: $b) } }
      fragment F on User { id email }`;
    expect(await neverCompiled(() => graphql(hub, query, { token: admin, variables: { a: false, b: true } }))).toMatchObject({ data: { x: {}, y: { id: b.id, email: b.email } } });
  });

  it('never a string written in the document that holds graphql-jit’s markers, which its code would run', async () => {
    const id = '__MAGIC_DATE__33a9e76d_02e0_4128_8e92_3530ad3da74d0),injected:(globalThis.__injectedByDocument=process.pid';
    // Anonymous: a field's arguments are built before any authorization is decided.
    const answer = await neverCompiled(() => graphql(hub, `{ user(id: ${JSON.stringify(id)}) { id } }`));
    expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((globalThis as Record<string, unknown>).__injectedByDocument).toBeUndefined();
  });

  it('never an operation with a default value: a date in it reaches the resolver as a date', async () => {
    const members = 'query($f: AudienceFilter = { signedUpAfter: "2020-01-01T00:00:00Z" }) { audience(purpose: "email_marketing", filter: $f, first: 1) { totalCount } }';
    const answer = await neverCompiled(() => graphql(hub, members, { token: marketing }));
    expect(answer.errors).toBeUndefined();
    expect(answer.data.audience.totalCount).toBeGreaterThan(0);
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

  it('compiles only what graphql-jit answers as graphql-js does, within the bounds of a compilation', () => {
    const long = 'x'.repeat(MAX_COMPILED_NAME);
    const compiled = ['{ node { value } }', `{ ${long}: node { value @include(if: true) } }`, 'query($n: Boolean!) { node { ...V } } fragment V on Node { value @skip(if: $n) }'];
    const interpreted = [
      'mutation { touch }',
      'query($n: Int = 1) { node { value } }',
      'query($n: Boolean!) { node { ...V @include(if: $n) } } fragment V on Node { value }',
      'query($n: Boolean!) { node { ... on Node @skip(if: $n) { value } } }',
      `{ ${long}x: node { value } }`,
      '{ node { value } } fragment F on Node { value(note: "__MAGIC_NAN__") }',
      '{ node { child { v: value } } }'.replace('v: value', Array.from({ length: MAX_COMPILED_SELECTIONS }, (_, i) => `v${i}: value`).join(' ')),
    ];
    expect(compiled.map((q) => compilable(operationOf(q).document, operationOf(q).operation))).toEqual([true, true, true]);
    expect(interpreted.map((q) => compilable(operationOf(q).document, operationOf(q).operation))).toEqual(interpreted.map(() => false));
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
    const executor = await executorOf(compileOperation(schema, second.document, null)!.bytes);
    expect(await compilationsOf(executor, first, COMPILE_AFTER_RUNS + 1)).toBe(1);
    expect(await compilationsOf(executor, first, 5)).toBe(0);
    expect(await compilationsOf(executor, second, COMPILE_AFTER_RUNS + 1)).toBe(1);
    expect(await compilationsOf(executor, first, COMPILE_AFTER_RUNS)).toBe(0);
    expect(await compilationsOf(executor, first, 1)).toBe(1);
  });

  it('frees the code of a compiled operation it drops: however many new documents come, memory stays within its bound', async () => {
    const executor = await executorOf(2 * 2 ** 20);
    const before = heapAfterCollecting();
    // Each alias is spelled out in the code compiled for its document, several times: 150 documents of 100.
    const fields = (n: number) => Array.from({ length: 100 }, (_, i) => `${`f${i}_${n}_`.padEnd(MAX_COMPILED_NAME, 'x')}: value`).join(' ');
    const document = (n: number) => operationOf(`{ ${`n${n}`.padEnd(MAX_COMPILED_NAME, 'x')}: node { ${fields(n)} } }`);
    expect(compileOperation(schema, document(150).document, null)!.bytes * 150).toBeGreaterThan(100 * 2 ** 20);
    for (let n = 0; n < 150; n++) await compilationsOf(executor, document(n), COMPILE_AFTER_RUNS + 1);
    expect(heapAfterCollecting() - before).toBeLessThan(24 * 2 ** 20);
  }, 120_000);

  it('counts the code generated in its memory: aliases over many fields, which the code spells out, take their room', async () => {
    const aliased = (name: string) =>
      operationOf(`{ ${name.padEnd(MAX_COMPILED_NAME, 'x')}: node { ${Array.from({ length: 100 }, (_, i) => `${`f${i}`.padEnd(MAX_COMPILED_NAME, 'x')}: value`).join(' ')} } }`);
    const [first, second] = [aliased('a'), aliased('b')];
    // Room for one of the two alone: the second drops the first.
    expect(compileOperation(schema, first.document, null)!.bytes).toBeGreaterThan(2 ** 19);
    const executor = await executorOf(2 ** 20);
    expect(await compilationsOf(executor, first, COMPILE_AFTER_RUNS + 1)).toBe(1);
    expect(await compilationsOf(executor, second, COMPILE_AFTER_RUNS + 1)).toBe(1);
    expect(await compilationsOf(executor, first, COMPILE_AFTER_RUNS)).toBe(0);
    expect(await compilationsOf(executor, first, 1)).toBe(1);
  });

  it('counts the text of a document in its memory: one of few selections but long literals or comments takes its room', async () => {
    const small = operationOf('{ node { value } }');
    const long = operationOf(`# ${'x'.repeat(50_000)}\n{ node { value } }`);
    expect(compiledSize(long.document, 0)).toBeGreaterThan(50_000 * 4);
    // Room for ten small ones, not for the long one: it runs on graphql-js however often it is sent.
    const executor = await executorOf(10 * compileOperation(schema, small.document, null)!.bytes);
    expect(await compilationsOf(executor, long, COMPILE_AFTER_RUNS * 3)).toBe(0);
    expect(await compilationsOf(executor, small, COMPILE_AFTER_RUNS + 1)).toBe(1);
  });

  it('counts the tokens of a document in its memory: comment lines, each kept as a token of its own, take their room', async () => {
    const padded = operationOf(`{ node { value } }\n${'#\n'.repeat(10_000)}`);
    expect(compiledSize(padded.document, 0)).toBeGreaterThan(10_000 * BYTES_PER_TOKEN);
    const executor = await executorOf(2 ** 20);
    expect(await compilationsOf(executor, padded, COMPILE_AFTER_RUNS * 3)).toBe(0);
  });
});
