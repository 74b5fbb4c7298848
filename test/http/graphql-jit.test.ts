import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { AccessRecorder } from '../../src/audit/access-recorder.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import { COMPILE_AFTER_RUNS } from '../../src/http/graphql-jit.js';
import { buildHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/shared/logger.js';
import type { Services } from '../../src/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser, type GraphqlResponse } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';
import { probeSchema } from '../helpers/probe-schema.js';

const compiles = vi.hoisted(() => ({ count: 0 }));
vi.mock('graphql-jit', async (importOriginal) => {
  const jit = await importOriginal<typeof import('graphql-jit')>();
  return { ...jit, compileQuery: (...args: Parameters<typeof jit.compileQuery>) => (compiles.count++, jit.compileQuery(...args)) };
});

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
