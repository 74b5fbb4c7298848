import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signUpUser } from '../helpers/hub.js';
import { basic, operatorCredentials } from '../helpers/oauth.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

// The outage is made by cutting a TCP proxy in front of the server, so the other test files,
// which share the server, are not disturbed. PGlite runs inside the hub and cannot go away.
interface ProxiedHub {
  readonly hub: Hub;
  readonly proxy: TcpProxy;
  /** The database itself, not through the proxy. */
  readonly database: TestDatabase;
  close(): Promise<void>;
}

/** A hub on a test database of its own, reached through a TCP proxy the test cuts; its log lines into `lines` when given. */
async function startProxiedHub(lines?: string[]): Promise<ProxiedHub> {
  const database: TestDatabase = await createTestDatabase();
  const { proxy, url } = await proxyDatabase(database.url!);
  const config = loadConfig({ ...TEST_ENV, DATABASE_URL: url, ...(lines ? { LOG_LEVEL: 'debug' } : {}) });
  const logger = lines && createLogger(config, { write: (line: string) => lines.push(line) });
  const hub = await createHub(config, { database: openDatabase({ url }), ...(logger ? { logger } : {}) });
  return {
    hub,
    proxy,
    database,
    async close() {
      await hub.close();
      await proxy.close();
      await database.close();
    },
  };
}

describe.skipIf(!testServerUrl())('the database goes away under load', () => {
  let proxied: ProxiedHub;
  let hub: Hub;
  let proxy: TcpProxy;
  let database: TestDatabase;
  beforeAll(async () => {
    proxied = await startProxiedHub();
    ({ hub, proxy, database } = proxied);
  });
  afterAll(() => proxied.close());

  it('answers 503 with Retry-After while it is down, recovers by itself, and loses no audit event', async () => {
    const user = await signUpUser(hub, { givenName: 'Before' });
    const rename = await graphql(hub, 'mutation { updateProfile(input: { givenName: "Committed" }) { givenName } }', { token: user.accessToken });
    expect(rename.errors).toBeUndefined();

    const statuses = new Map<number, number>();
    let served = 0;
    let stop = false;
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const response = await graphql(hub, '{ me { givenName } }', { token: user.accessToken });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status === 200) {
          served++;
          expect(response.data).toEqual({ me: { givenName: 'Committed' } });
        } else {
          expect(response.status).toBe(503);
          expect(response.headers['retry-after']).toBe('5');
          expect(JSON.stringify(response)).not.toMatch(/ECONN|Connection terminated|stack/);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    proxy.restore();
    await expect.poll(async () => (await graphql(hub, '{ me { givenName } }', { token: user.accessToken })).status, { timeout: 15_000 }).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop = true;
    await Promise.all(load);

    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].sort()).toEqual([200, 503]);
    // Every read that was answered is in the trail, including those buffered when the database went away.
    await hub.services.audit.flush();
    const reads = await database.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('subject_user_id', '=', user.id)
      .where('action', '=', 'profile.read')
      .executeTakeFirstOrThrow();
    expect(Number(reads.count)).toBeGreaterThanOrEqual(served);
  }, 60_000);
});

describe.skipIf(!testServerUrl())('the log of a database outage', () => {
  const lines: string[] = [];
  let proxied: ProxiedHub;
  let hub: Hub;
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxied = await startProxiedHub(lines);
    ({ hub, proxy } = proxied);
  });
  afterAll(() => proxied.close());
  const logged = (from = 0) => lines.slice(from).map((line) => JSON.parse(line) as Record<string, any>);

  it('says once that the database is unreachable, under the first failed request id, and once that it answers again, however many requests fail', async () => {
    const user = await signUpUser(hub);
    const from = lines.length;
    proxy.cut();
    const requestIds: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const answers = [
        await graphql(hub, '{ me { givenName } }', { token: user.accessToken }),
        await graphql(hub, 'mutation { signIn(input: { email: "nobody@example.com", password: "not the password at all" }) { accessToken } }'),
        await hub.http.inject({ method: 'GET', url: `/users/${user.id}/export`, headers: { authorization: `Bearer ${user.accessToken}` } }),
        // A resource server asking of a live token is told the hub cannot answer, not that the token is inactive.
        await postForm(hub, '/oauth/introspect', { token: user.accessToken }, basic(operatorCredentials(hub))),
        await postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(operatorCredentials(hub))),
        await postForm(hub, '/oauth/revoke', { token: user.refreshToken }, basic(operatorCredentials(hub))),
      ];
      for (const answer of answers) {
        expect('statusCode' in answer ? answer.statusCode : answer.status).toBe(503);
        requestIds.push(answer.headers['x-request-id']);
      }
    }
    const during = logged(from);
    // One warning for the outage, not one per request, and no error: nothing failed but the database.
    expect(during.filter((line) => line.level >= 40 && line.reqId !== undefined)).toEqual([
      expect.objectContaining({ level: 40, reqId: requestIds[0], reason: expect.any(String), msg: expect.stringMatching(/^database unreachable/) }),
    ]);
    expect(during.filter((line) => line.level >= 50)).toEqual([]);
    // Each failed request stays findable by its id at debug.
    const unreachable = new Set(during.filter((line) => /^database unreachable/.test(line.msg)).map((line) => line.reqId));
    for (const id of requestIds) expect(unreachable).toContain(id);

    proxy.restore();
    await expect.poll(() => logged(from).filter((line) => /^database answers again/.test(line.msg)).length, { timeout: 15_000 }).toBe(1);
    expect(logged(from).find((line) => /^database answers again/.test(line.msg))).toMatchObject({ level: 30, msg: expect.stringContaining(`${requestIds.length} requests were answered 503`) });
    expect((await graphql(hub, '{ me { id } }', { token: user.accessToken })).status).toBe(200);
  }, 60_000);
});

// A server out of disk space answers every read, the ping of the outage's log among them, and
// refuses the writes that need a new page: here, every new consent.
describe('the log of a database that answers but refuses writes', () => {
  const lines: string[] = [];
  let database: TestDatabase;
  let hub: Hub;
  beforeAll(async () => {
    database = await createTestDatabase();
    const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: 'debug' });
    hub = await createHub(config, { database, logger: createLogger(config, { write: (line: string) => lines.push(line) }) });
  });
  afterAll(() => hub.close());
  const logged = (from = 0) => lines.slice(from).map((line) => JSON.parse(line) as Record<string, any>);

  it('never says it answers again while requests still fail', async () => {
    const user = await signUpUser(hub);
    await sql`create function consents_disk_full() returns trigger language plpgsql as $$ begin raise exception 'could not extend file' using errcode = 'disk_full'; end $$`.execute(database.db);
    await sql`create trigger consents_disk_full before insert on consents for each row execute function consents_disk_full()`.execute(database.db);
    const from = lines.length;
    for (const until = Date.now() + 3_000; Date.now() < until; ) {
      const answer = await graphql(hub, 'mutation { giveConsent(input: { purpose: "support" }) { id } }', { token: user.accessToken });
      expect(answer.status).toBe(503);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(logged(from).filter((line) => line.level >= 30 && /^database/.test(line.msg)).map((line) => line.msg)).toEqual([expect.stringMatching(/^database unreachable/)]);

    await sql`drop trigger consents_disk_full on consents`.execute(database.db);
    await expect.poll(() => logged(from).filter((line) => /^database answers again/.test(line.msg)).length, { timeout: 10_000 }).toBe(1);
    expect(logged(from).filter((line) => line.level >= 40).map((line) => line.msg)).toEqual([expect.stringMatching(/^database unreachable/)]);
  }, 30_000);
});
