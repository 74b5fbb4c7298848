import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHub, type Hub, type Services } from '../../src/app.js';
import { AccessRecorder } from '../../src/audit/access-recorder.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import { buildHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { freePort, sendRaw } from '../helpers/net.js';
import { probeSchema } from '../helpers/probe-schema.js';

const lines: string[] = [];
let hub: Hub;
let database: TestDatabase;
let port: number;
beforeAll(async () => {
  port = await freePort();
  const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: 'trace', PORT: String(port) });
  database = await createTestDatabase();
  hub = await createHub(config, { database, logger: createLogger(config, { write: (line: string) => lines.push(line) }) });
  await hub.listen();
});
afterAll(() => hub.close());

const logged = () => lines.map((line) => JSON.parse(line) as Record<string, any>);

describe('the error log', () => {
  it("logs a database error by its code and constraint, never the row's values or the statement's parameters", async () => {
    const user = await signUpUser(hub, { givenName: 'Ann', familyName: 'Quillfeather' });
    const email = (await database.db.selectFrom('users').select('email').where('id', '=', user.id).executeTakeFirstOrThrow()).email;
    // A constraint the code does not expect: the update fails in the database, as an internal error.
    await sql`alter table users add constraint given_name_not_reserved check (given_name <> 'Reserved-Name-77')`.execute(database.db);
    const response = await graphql(hub, 'mutation { updateProfile(input: { givenName: "Reserved-Name-77" }) { givenName } }', { token: user.accessToken });
    expect(response.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');

    const entry = logged().find((line) => line.msg === 'graphql error');
    expect(entry?.err).toMatchObject({ code: '23514', constraint: 'given_name_not_reserved', table: 'users' });
    const text = lines.join('');
    for (const value of [email, 'Quillfeather', '$argon2id', 'Reserved-Name-77', user.id]) expect(text).not.toContain(value);
  });

  it("logs an unexpected error under the request id the client saw, as the request's other lines, so one search finds them all", async () => {
    const user = await signUpUser(hub);
    await sql`alter table users add constraint family_name_not_reserved check (family_name <> 'Reserved-Name-78')`.execute(database.db);
    const response = await graphql(hub, 'mutation { updateProfile(input: { familyName: "Reserved-Name-78" }) { familyName } }', { token: user.accessToken });
    expect(response.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');

    const entries = logged().filter((line) => line.reqId === response.headers['x-request-id']);
    expect(entries.map((line) => [line.level, line.msg])).toEqual([
      [30, 'incoming request'],
      [50, 'graphql error'],
      [30, 'request completed'],
    ]);
  });

  it('logs a request the HTTP parser refused by its error, never the bytes it received', async () => {
    const head = 'POST /oauth/token?client_secret=QUERY-SECRET-1 HTTP/1.1\r\nHost: hub\r\nAuthorization: Basic QkFTSUMtU0VDUkVULTI=\r\nCookie: sid=COOKIE-SECRET-3\r\n';
    expect(await sendRaw(port, `${head}Not a header\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await sendRaw(port, `${head}X-Padding: ${'p'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);

    const refusals = logged().filter((line) => /^client /.test(line.msg));
    expect(refusals.map((line) => line.err.code)).toEqual(['HPE_INVALID_HEADER_TOKEN', 'HPE_HEADER_OVERFLOW']);
    for (const refusal of refusals) expect(refusal.err.rawPacket).toBeUndefined();
    const text = lines.join('');
    for (const secret of ['QUERY-SECRET-1', 'QkFTSUMtU0VDUkVULTI=', 'COOKIE-SECRET-3']) expect(text).not.toContain(secret);
  });
});

describe('the error log of a request that met a database outage', () => {
  const probeLines: string[] = [];
  let server: FastifyInstance;
  beforeAll(async () => {
    const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: 'debug' });
    const logger = createLogger(config, { write: (line: string) => probeLines.push(line) });
    const services = { config, db: database.db, logger };
    server = await buildHttpServer({
      config,
      logger,
      database,
      schema: probeSchema().schema,
      createContext: async (request) => ({ requestId: request.id, address: request.ip, principal: ANONYMOUS, services: services as unknown as Services, access: new AccessRecorder() }),
    });
  });
  afterAll(() => server.close());

  it('still logs the unexpected errors of its other fields', async () => {
    const response = await server.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: { query: '{ unreachable boom }' } });
    expect(response.statusCode).toBe(503);
    const entries = probeLines.map((line) => JSON.parse(line) as Record<string, any>).filter((line) => line.reqId === response.headers['x-request-id']);
    expect(entries.filter((line) => line.msg === 'graphql error').map((line) => line.err.message)).toEqual([expect.stringContaining('secret_table')]);
    expect(entries.filter((line) => /^database unreachable/.test(line.msg))).toHaveLength(1);
  });
});
