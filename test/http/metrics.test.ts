import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { registerMetrics } from '../../src/http/metrics.js';
import { createHubMetrics, observeAtScrape } from '../../src/metrics/hub-metrics.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorCredentials, operatorToken, registerAgent } from '../helpers/oauth.js';
import { StatementLog, startCountedHub } from '../helpers/statements.js';

let hub: Hub;
let scraper: string;
beforeAll(async () => {
  hub = await startTestHub();
  scraper = await clientToken(hub, ['audit:read'], 'agt_01J0000000000000000000SCRP');
});
afterAll(() => hub.close());

const scrapeWith = (target: Hub, token?: string) =>
  target.http.inject({ method: 'GET', url: '/metrics', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

/** The metrics of `target` in the text format, scraped as Prometheus would. */
async function scrape(target: Hub = hub, token = scraper): Promise<string> {
  const response = await scrapeWith(target, token);
  expect(response.statusCode).toBe(200);
  return response.body;
}

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Every sample of a scrape. */
function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [, name, labels = '', value] = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)!;
      return { name: name!, labels: Object.fromEntries([...labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, v]) => [key!, v!])), value: Number(value) };
    });
}

/** The sum of the samples of `name` whose labels include `labels`; 0 when there is none. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text)
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** How much `name` with `labels` moved while `work` ran. */
async function moved(name: string, labels: Record<string, string>, work: () => Promise<unknown>): Promise<number> {
  const before = valueOf(await scrape(), name, labels);
  await work();
  return valueOf(await scrape(), name, labels) - before;
}

const RESOURCE_METADATA = /resource_metadata="http:\/\/localhost:4000\/\.well-known\/oauth-protected-resource\/graphql"/;

describe('GET /metrics', () => {
  it('refuses a request without a bearer token with 401 and a challenge without an error code', async () => {
    const response = await scrapeWith(hub);
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="hub", resource_metadata=/);
    expect(response.headers['www-authenticate']).toMatch(RESOURCE_METADATA);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toEqual({ error: 'unauthorized', error_description: 'a bearer token is required' });
  });

  it('refuses a token the hub did not issue with 401 invalid_token', async () => {
    const response = await scrapeWith(hub, 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln');
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toMatchObject({ error: 'invalid_token' });
  });

  it('refuses a user, and an operator client without audit:read, with 403 insufficient_scope', async () => {
    const user = await signUpUser(hub);
    const console = await clientToken(hub, ['users:admin', 'agents:admin', 'audience:read'], 'agt_01J0000000000000000000NOAU');
    for (const token of [user.accessToken, console]) {
      const response = await scrapeWith(hub, token);
      expect(response.statusCode).toBe(403);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="hub", error="insufficient_scope", scope="audit:read", resource_metadata=/);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.json()).toEqual({ error: 'insufficient_scope', error_description: 'audit:read is required' });
    }
  });

  it('serves a client with audit:read the text format, never stored, the process metrics among them', async () => {
    const response = await scrapeWith(hub, scraper);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toContain('# TYPE http_requests_total counter');
    expect(response.body).toContain('# TYPE http_request_duration_seconds histogram');
    expect(valueOf(response.body, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(response.body, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('writes no audit event for a scrape, served or refused, a delegated token refused included', async () => {
    const admin = await operatorToken(hub);
    const user = await signUpUser(hub);
    const agent = await registerAgent(hub, admin, { name: 'Metrics reader', allowedScopes: ['orders:read'] });
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
    const exchanged = await exchange(hub, agent, (await signIn(hub, user)).accessToken, { scope: 'orders:read' });
    expect(exchanged.status).toBe(200);
    const withdrawn = await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: user.accessToken, variables: { id: consentId } });
    expect(withdrawn.errors).toBeUndefined();
    const events = async () => (await hub.services.audit.flush(), Number((await hub.database.db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n));

    const before = await events();
    expect((await scrapeWith(hub, exchanged.body.access_token)).statusCode).toBe(401);
    expect((await scrapeWith(hub, user.accessToken)).statusCode).toBe(403);
    await scrape();
    expect(await events()).toBe(before);
  });
});

describe('HEAD /metrics', () => {
  it('answers what a scrape would after the same checks, and scrapes nothing: the next scrape shows all since the last', async () => {
    const log = new StatementLog();
    const counted = await startCountedHub(log);
    onTestFinished(() => counted.close());
    const reader = await clientToken(counted, ['audit:read'], 'agt_01J0000000000000000000SCRP');
    const head = (token?: string) => counted.http.inject({ method: 'HEAD', url: '/metrics', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    expect((await head()).statusCode).toBe(401);
    expect((await head((await signUpUser(counted)).accessToken)).statusCode).toBe(403);

    // A stall of the event loop, which the next scrape reports and then forgets (prom-client resets
    // the loop's delays at each collection); given the monitor's tick to see it end.
    const STALL_MS = 500;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, STALL_MS);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const answered = await log.during(() => head(reader));
    expect(answered.statusCode).toBe(200);
    expect(answered.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(answered.headers['cache-control']).toBe('no-store');
    expect(answered.body).toBe('');
    expect(answered.headers['content-length']).toBeUndefined();
    // The gauges a scrape reads, the webhook backlog among them, are left unread.
    expect(log.matching('webhook_deliveries')).toEqual([]);
    expect(valueOf(await scrape(counted, reader), 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual((STALL_MS * 0.9) / 1_000);
  });
});

describe('http_requests_total and http_request_duration_seconds', () => {
  it('count each answered request by method, route pattern and status', async () => {
    const labels = { method: 'GET', route: '/healthz', status_code: '200' };
    expect(await moved('http_requests_total', labels, () => hub.http.inject({ method: 'GET', url: '/healthz' }))).toBe(1);
    expect(await moved('http_request_duration_seconds_count', labels, () => hub.http.inject({ method: 'GET', url: '/healthz' }))).toBe(1);
  });

  it('label a path with ids by its route, and one no route takes as unmatched, naming no id', async () => {
    const user = await signUpUser(hub);
    const marketing = await clientToken(hub, ['audience:read'], 'agt_01J0000000000000000000MKTG');
    await hub.http.inject({ method: 'GET', url: `/users/${user.id}/export`, headers: { authorization: `Bearer ${user.accessToken}` } });
    await hub.http.inject({ method: 'GET', url: '/audiences/aud_01J00000000000000000000000/export?x=secret', headers: { authorization: `Bearer ${marketing}` } });
    await hub.http.inject({ method: 'GET', url: `/nowhere/${user.id}?email=${encodeURIComponent(user.email)}` });
    await hub.http.inject({ method: 'GET', url: '/users/%ff/export' });

    const text = await scrape();
    expect(valueOf(text, 'http_requests_total', { route: '/users/:id/export', status_code: '200' })).toBe(1);
    expect(valueOf(text, 'http_requests_total', { route: '/audiences/:id/export', status_code: '404' })).toBe(1);
    expect(valueOf(text, 'http_requests_total', { route: 'unmatched', status_code: '404' })).toBe(1);
    expect(valueOf(text, 'http_requests_total', { route: 'unmatched', status_code: '400' })).toBe(1);
    const values = samples(text).flatMap((sample) => Object.values(sample.labels));
    for (const value of values) {
      expect(value).not.toMatch(/(usr|agt|aud|cns|evt)_|@|secret|Bearer|^\/nowhere/);
      expect(value).not.toContain(user.email);
    }
    expect(new Set(samples(text).filter((s) => s.name === 'http_requests_total').map((s) => s.labels.route))).not.toContain(`/users/${user.id}/export`);
  });
});

describe('a streamed answer cut off before its end', () => {
  it('is counted with its status and the time until its connection closed', async () => {
    // A route streaming as the exports do, its reader gone after the first part.
    const app = Fastify();
    const metrics = createHubMetrics();
    registerMetrics(app, metrics, 'http://localhost/.well-known/oauth-protected-resource');
    app.get('/stream/:id', async (_request, reply) => reply.send(new Readable({ read() { setTimeout(() => this.push(`${'x'.repeat(1_000)}\n`), 5); } })));
    await app.listen({ host: '127.0.0.1', port: 0 });
    onTestFinished(() => app.close());
    const { port } = app.server.address() as AddressInfo;
    await new Promise<void>((resolve) => {
      const request = httpRequest({ host: '127.0.0.1', port, path: '/stream/usr_01J00000000000000000000000' }, (response) => response.once('data', () => request.destroy()));
      request.on('close', resolve).on('error', () => {});
      request.end();
    });

    const labels = { method: 'GET', route: '/stream/:id', status_code: '200' };
    await expect.poll(async () => valueOf(await metrics.registry.metrics(), 'http_requests_total', labels)).toBe(1);
    expect(valueOf(await metrics.registry.metrics(), 'http_request_duration_seconds_count', labels)).toBe(1);
  });
});

describe('a request whose client left before its answer', () => {
  it('is counted with the status it was answered with', async () => {
    const app = Fastify();
    const metrics = createHubMetrics();
    registerMetrics(app, metrics, 'http://localhost/.well-known/oauth-protected-resource');
    let started!: () => void;
    const handling = new Promise<void>((resolve) => (started = resolve));
    // A slow answer, as a heavy query's: ready only once its client has gone.
    app.get('/slow/:id', async (_request, reply) => {
      const gone = new Promise((resolve) => reply.raw.once('close', resolve));
      started();
      await gone;
      return { ok: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    onTestFinished(() => app.close());
    const { port } = app.server.address() as AddressInfo;
    const request = httpRequest({ host: '127.0.0.1', port, path: '/slow/usr_01J00000000000000000000000' }).on('error', () => {});
    request.end();
    await handling;
    request.destroy();

    const labels = { method: 'GET', route: '/slow/:id', status_code: '200' };
    await expect.poll(async () => valueOf(await metrics.registry.metrics(), 'http_requests_total', labels)).toBe(1);
    expect(valueOf(await metrics.registry.metrics(), 'http_request_duration_seconds_count', labels)).toBe(1);
  });
});

describe('oauth_tokens_issued_total and oauth_token_requests_refused_total', () => {
  it('count tokens issued by grant type, and refusals by error code', async () => {
    const operator = operatorCredentials(hub);
    const issue = () => postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(operator));
    expect(await moved('oauth_tokens_issued_total', { grant_type: 'client_credentials' }, issue)).toBe(1);

    const wrongSecret = () => postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic({ ...operator, clientSecret: 'not-the-secret' }));
    expect(await moved('oauth_token_requests_refused_total', { error: 'invalid_client' }, wrongSecret)).toBe(1);
    const unknownGrant = () => postForm(hub, '/oauth/token', { grant_type: 'password' }, basic(operator));
    expect(await moved('oauth_token_requests_refused_total', { error: 'unsupported_grant_type' }, unknownGrant)).toBe(1);
    // Refused by the framework, before the endpoint: a body it does not read.
    const json = () => hub.http.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(await moved('oauth_token_requests_refused_total', {}, json)).toBe(1);
    expect(valueOf(await scrape(), 'oauth_tokens_issued_total', { grant_type: 'password' })).toBe(0);
  });
});

describe('graphql_operations_total and authz_field_decisions_total', () => {
  it('count operations by type and outcome, and each profile field allowed or denied by its reason', async () => {
    const user = await signUpUser(hub);
    const console = await clientToken(hub, ['users:admin', 'profile:read'], 'agt_01J0000000000000000000CNSL');
    const before = await scrape();
    const read = await graphql(hub, 'query($id: ID!) { user(id: $id) { id country } }', { token: console, variables: { id: user.id } });
    expect(read.errors).toBeUndefined();
    const denied = await graphql(hub, 'query($id: ID!) { user(id: $id) { id email } }', { token: console, variables: { id: user.id } });
    expect(denied.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    await graphql(hub, 'mutation { signIn(input: { email: "nobody@example.com", password: "wrong password 42" }) { accessToken } }');
    await graphql(hub, '{ me { id ');
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('graphql_operations_total', { operation: 'query', outcome: 'ok' })).toBe(1);
    expect(delta('graphql_operations_total', { operation: 'query', outcome: 'error' })).toBe(1);
    expect(delta('graphql_operations_total', { operation: 'mutation', outcome: 'error' })).toBe(1);
    expect(delta('graphql_operations_total', { operation: 'unknown', outcome: 'error' })).toBe(1);
    // country allowed, email refused (id is the record's, decided as the user is).
    expect(delta('authz_field_decisions_total', { decision: 'allow', reason: 'none' })).toBe(1);
    expect(delta('authz_field_decisions_total', { decision: 'deny', reason: 'MISSING_SCOPE' })).toBe(1);
    expect(delta('authz_field_decisions_total', { decision: 'deny' })).toBe(1);
  });
});

describe('authz_field_decisions_total and graphql_operations_total, counted', () => {
  it('count each decision once, however many one request makes and however often scraped', async () => {
    const user = await signUpUser(hub);
    const console = await clientToken(hub, ['users:admin', 'profile:read'], 'agt_01J0000000000000000000CNSL');
    const before = await scrape();
    const read = await graphql(hub, 'query($id: ID!) { user(id: $id) { id locale country createdAt email phone } }', { token: console, variables: { id: user.id } });
    expect(read.errors).toHaveLength(2);
    const after = await scrape();
    const again = await scrape();
    const delta = (text: string, labels: Record<string, string>) => valueOf(text, 'authz_field_decisions_total', labels) - valueOf(before, 'authz_field_decisions_total', labels);
    for (const text of [after, again]) {
      expect(delta(text, { decision: 'allow', reason: 'none' })).toBe(3);
      expect(delta(text, { decision: 'deny', reason: 'MISSING_SCOPE' })).toBe(2);
    }
  });

  it('label an operation by its type, never by the name the client gave it', async () => {
    const user = await signUpUser(hub);
    const name = 'CustomerProfileOfAliceSmith';
    const labels = { operation: 'query', outcome: 'ok' };
    expect(await moved('graphql_operations_total', labels, () => graphql(hub, `query ${name} { me { id } }`, { token: user.accessToken }))).toBe(1);
    const values = samples(await scrape()).flatMap((sample) => Object.values(sample.labels));
    expect(values).not.toContain(name);
  });
});

describe('two hubs in one process', () => {
  it('count apart, each on a registry of its own, sharing only the process metrics', async () => {
    const other = await startTestHub();
    try {
      const otherScraper = await clientToken(other, ['audit:read'], 'agt_01J0000000000000000000SCRP');
      expect(other.services.metrics.registry).not.toBe(hub.services.metrics.registry);
      const labels = { method: 'GET', route: '/readyz', status_code: '200' };
      const mine = valueOf(await scrape(), 'http_requests_total', labels);
      const theirs = valueOf(await scrape(other, otherScraper), 'http_requests_total', labels);
      for (let i = 0; i < 3; i++) await other.http.inject({ method: 'GET', url: '/readyz' });
      expect(valueOf(await scrape(), 'http_requests_total', labels)).toBe(mine);
      expect(valueOf(await scrape(other, otherScraper), 'http_requests_total', labels)).toBe(theirs + 3);
      expect(valueOf(await scrape(other, otherScraper), 'process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
  });

  it('report the process’s own metrics: one started later counts the garbage collections before it', async () => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    // prom-client counts one collection per batch its observer is handed: one batch each.
    for (let i = 0; i < 20; i++) {
      collect();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const before = valueOf(await scrape(), 'nodejs_gc_duration_seconds_count');
    expect(before).toBeGreaterThanOrEqual(20);
    const other = await startTestHub();
    try {
      const otherScraper = await clientToken(other, ['audit:read'], 'agt_01J0000000000000000000SCRP');
      expect(valueOf(await scrape(other, otherScraper), 'nodejs_gc_duration_seconds_count')).toBeGreaterThanOrEqual(before);
    } finally {
      await other.close();
    }
  });
});

describe('gauges read at scrape time', () => {
  it('show each connection pool on a server, and none on the embedded database', async () => {
    const text = await scrape();
    if (hub.database.kind === 'pglite') {
      expect(text).not.toContain('db_pool_');
      return;
    }
    expect(valueOf(text, 'db_pool_connections', { pool: 'requests' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, 'db_pool_connections', { pool: 'token_checks' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, 'db_pool_idle_connections', { pool: 'requests' })).toBeLessThanOrEqual(valueOf(text, 'db_pool_connections', { pool: 'requests' }));
    expect(text).toMatch(/^db_pool_waiting_queries\{pool="requests"\} \d+$/m);
  });

  it('show the webhook deliveries waiting', async () => {
    expect(await scrape()).toMatch(/^webhook_deliveries_pending 0$/m);
  });

  it('leave out a backlog that cannot be counted, never its last value, and serve the rest', async () => {
    const metrics = createHubMetrics();
    let down = false;
    const pendingWebhookDeliveries = async () => {
      if (down) throw new Error('connect ECONNREFUSED');
      return 7;
    };
    observeAtScrape(metrics, { pools: new Map([['requests', { totalCount: 3, idleCount: 1, waitingCount: 2 }]]), pendingWebhookDeliveries });
    expect(await metrics.registry.metrics()).toMatch(/^webhook_deliveries_pending 7$/m);
    down = true;
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^webhook_deliveries_pending /m);
    expect(text).toMatch(/^db_pool_connections\{pool="requests"\} 3$/m);
    expect(text).toMatch(/^db_pool_idle_connections\{pool="requests"\} 1$/m);
    expect(text).toMatch(/^db_pool_waiting_queries\{pool="requests"\} 2$/m);
  });
});

describe('while audit events wait to be written', () => {
  it('serves the metrics, which record none, as GraphQL answers 503', async () => {
    // A writer that writes only when told to, backlogged by two waiting events.
    const backlogged = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), audit: { flushIntervalMs: 600_000, maxBatch: 10_000, maxBuffered: 2 } });
    try {
      const reader = await clientToken(backlogged, ['audit:read'], 'agt_01J0000000000000000000SCRP');
      const user = await signUpUser(backlogged);
      const me = () => graphql(backlogged, '{ me { id email } }', { token: user.accessToken });
      while (!backlogged.services.audit.backlogged) expect((await me()).status).toBe(200);
      expect((await me()).status).toBe(503);
      expect(await scrape(backlogged, reader)).toMatch(/^graphql_operations_total\{operation="query",outcome="ok"\} \d+$/m);
    } finally {
      await backlogged.close();
    }
  });
});
