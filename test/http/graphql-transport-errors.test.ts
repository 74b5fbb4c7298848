import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AccessRecorder } from '../../src/audit/access-recorder.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/db/availability.js';
import { buildHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/shared/logger.js';
import type { Services } from '../../src/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV } from '../helpers/hub.js';
import { probeSchema } from '../helpers/probe-schema.js';

let database: TestDatabase;
let server: FastifyInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig(TEST_ENV);
  const services = { config, db: database.db, logger: createLogger(config) };
  server = await buildHttpServer({
    config,
    logger: services.logger,
    database,
    schema: probeSchema().schema,
    createContext: async (request) => ({ requestId: request.id, address: request.ip, principal: ANONYMOUS, services: services as unknown as Services, access: new AccessRecorder() }),
    // The per-request token check, with the database gone.
    authenticate: async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    },
  });
});
afterAll(async () => {
  await server.close();
  await database.close();
});

/** What any GraphQL client can read: `errors`, each with a code of the contract, and nothing of the framework. */
function expectGraphqlError(body: string, code: string) {
  const parsed = JSON.parse(body);
  expect(parsed).toEqual({ errors: [{ message: expect.any(String), extensions: { code } }] });
  expect(body).not.toMatch(/FST_|stack|ECONNREFUSED|5432/);
}

describe('a request to /graphql refused before GraphQL runs', () => {
  it.each([
    ['malformed JSON', 400, 'application/json', '{"query":'],
    ['an empty JSON body', 400, 'application/json', ''],
    ['a body over the size limit', 413, 'application/json', JSON.stringify({ query: `{ slow } # ${'x'.repeat(200 * 1024)}` })],
    ['a media type no parser reads', 415, 'application/xml', '<query/>'],
  ])('answers %s as a GraphQL error with its status', async (_, status, contentType, payload) => {
    const response = await server.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': contentType }, payload });
    expect(response.statusCode).toBe(status);
    expectGraphqlError(response.body, 'BAD_USER_INPUT');
  });

  it('answers a database gone at the token check as a GraphQL 503 with Retry-After', async () => {
    const response = await server.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', authorization: 'Bearer abc' }, payload: { query: '{ slow }' } });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe(String(DATABASE_RETRY_AFTER_SECONDS));
    expectGraphqlError(response.body, 'INTERNAL_SERVER_ERROR');
  });
});
