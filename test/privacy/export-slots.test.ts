import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { SelectQueryNode, TableNode, sql, type KyselyPlugin, type QueryId } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { EXPORT_SCOPES } from '../../src/authz/privacy-access.js';
import { loadConfig } from '../../src/config.js';
import { registerBearerAuth } from '../../src/http/bearer.js';
import { PROTECTED_ROUTES } from '../../src/http/server.js';
import { resourceMetadataUrl } from '../../src/oauth/discovery.js';
import { registerExportRoutes } from '../../src/privacy/export.routes.js';
import { exportUserData, limitPageReads, type PageReads } from '../../src/privacy/export.service.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { restOf, stalledGet } from '../helpers/net.js';
import { exportOf } from './privacy-fixtures.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

/** Orders enough that an export no one reads stalls on its full buffers instead of finishing. */
async function withManyOrders(userId: string) {
  await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
    select 'ord_' || ${userId} || '_' || i, ${userId}, ${clock.now()}::timestamptz - make_interval(mins => i), 100 + i, 'EUR', 'delivered',
      '[{"sku":"SKU-1","name":"Wool socks","quantity":2,"unitPriceMinor":50}]'::jsonb
    from generate_series(1, 3000) as i`.execute(hub.services.db);
}

/** GET /users/:id/export with the body left unread, as a client that stops reading leaves it. */
async function unreadExport(userId: string, token: string) {
  return hub.http.inject({ method: 'GET', url: `/users/${userId}/export`, headers: { authorization: `Bearer ${token}` }, payloadAsStream: true });
}

/** Reads the rest of an export left unread, so that it ends and frees its slot. */
async function drain(response: Awaited<ReturnType<typeof unreadExport>>) {
  for await (const _chunk of response.stream()) {
    // Read to the end.
  }
}

describe('export slots', () => {
  it('keep one caller who stops reading to one export', async () => {
    const mallory = await signUpUser(hub);
    await withManyOrders(mallory.id);
    const alice = await signUpUser(hub);

    const held = [await unreadExport(mallory.id, mallory.accessToken)];
    expect(held[0]!.statusCode).toBe(200);
    for (let i = 1; i < 4; i++) {
      const more = await unreadExport(mallory.id, mallory.accessToken);
      if (more.statusCode === 200) held.push(more);
      else expect(more.statusCode).toBe(429);
    }

    const own = await exportOf(hub, alice.id, alice.accessToken);
    expect(own.status).toBe(200);
    expect(own.body.subject).toBe(alice.id);
    expect(held).toHaveLength(1);

    for (const response of held) await drain(response);
    const again = await exportOf(hub, mallory.id, mallory.accessToken);
    expect(again.status).toBe(200);
    expect(again.body.orders).toHaveLength(3000);
  });

  it('leave a HEAD alone, which takes none: answered while the caller’s export is held, and no slot held after it', async () => {
    const mallory = await signUpUser(hub);
    await withManyOrders(mallory.id);
    const held = await unreadExport(mallory.id, mallory.accessToken);
    expect(held.statusCode).toBe(200);
    expect((await unreadExport(mallory.id, mallory.accessToken)).statusCode).toBe(429);

    const head = await hub.http.inject({ method: 'HEAD', url: `/users/${mallory.id}/export`, headers: { authorization: `Bearer ${mallory.accessToken}` } });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-disposition']).toBe(`attachment; filename="${mallory.id}.json"`);

    await drain(held);
    const again = await exportOf(hub, mallory.id, mallory.accessToken);
    expect(again.status).toBe(200);
    expect(again.body.orders).toHaveLength(3000);
  });

  it('read their pages through the instance’s turns, whoever runs them', async () => {
    const turns = limitPageReads(1);
    let running = 0;
    let most = 0;
    let read = 0;
    const counted: PageReads = (page) =>
      turns(async () => {
        read++;
        most = Math.max(most, ++running);
        try {
          return await page();
        } finally {
          running--;
        }
      });
    const [ann, ben] = [await signUpUser(hub), await signUpUser(hub)];
    const documents = await Promise.all(
      [ann, ben].map(async (user) => {
        const principal = await hub.services.tokens.authenticate(user.accessToken);
        let text = '';
        for await (const chunk of await exportUserData(hub.services, { principal, requestId: null }, user.id, undefined, counted)) text += chunk;
        return JSON.parse(text).subject;
      }),
    );
    expect(documents).toEqual([ann.id, ben.id]);
    expect(read).toBeGreaterThan(2);
    expect(most).toBe(1);
  });

  it('read four pages at once on an instance through its route, however many callers’ exports are open', async () => {
    // The instance's database with each read of orders held a moment, counting the reads that overlap.
    const ordersReads = new Set<QueryId>();
    let most = 0;
    const heldOrders: KyselyPlugin = {
      transformQuery({ node, queryId }) {
        if (SelectQueryNode.is(node) && node.from?.froms.some((from) => TableNode.is(from) && from.table.identifier.name === 'orders')) {
          ordersReads.add(queryId);
          most = Math.max(most, ordersReads.size);
        }
        return node;
      },
      async transformResult({ result, queryId }) {
        if (ordersReads.has(queryId)) {
          await sleep(50);
          ordersReads.delete(queryId);
        }
        return result;
      },
    };
    const server = Fastify();
    registerBearerAuth(server, { routes: PROTECTED_ROUTES, authenticate: (token) => hub.services.tokens.authenticateInSteps(token), resourceMetadataUrl: resourceMetadataUrl(hub.config) });
    await registerExportRoutes(server, { ...hub.services, db: hub.services.db.withPlugin(heldOrders) });
    try {
      const people = await Promise.all(Array.from({ length: 6 }, () => signUpUser(hub)));
      for (const person of people) {
        await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
          select 'ord_' || ${person.id} || '_' || i, ${person.id}, ${clock.now()}::timestamptz - make_interval(mins => i), 100, 'EUR', 'paid', '[]'::jsonb
          from generate_series(1, 1200) as i`.execute(hub.services.db);
      }
      const documents = await Promise.all(people.map((person) => server.inject({ method: 'GET', url: `/users/${person.id}/export`, headers: { authorization: `Bearer ${person.accessToken}` } })));
      expect(documents.map((document) => JSON.parse(document.body).orders.length)).toEqual(Array(6).fill(1200));
      expect(most).toBeGreaterThan(1);
      expect(most).toBeLessThanOrEqual(4);
    } finally {
      await server.close();
    }
  });

  it('are free again once an export is read to its end: the same caller’s next export starts at once', async () => {
    const bea = await signUpUser(hub);
    for (let i = 0; i < 3; i++) expect((await exportOf(hub, bea.id, bea.accessToken)).status).toBe(200);
  });
});

describe('exports open on one instance', () => {
  let small: Hub;
  beforeAll(async () => {
    small = await createHub(loadConfig({ ...TEST_ENV, HUB_MAX_DATA_EXPORTS: '2' }), { database: await createTestDatabase(), clock });
  });
  afterAll(() => small.close());

  it('are at most HUB_MAX_DATA_EXPORTS, whoever holds them: past it 503 with Retry-After, and free again as one ends', async () => {
    // Each caller holds one export that their reader does not take, as many accounts would, one each.
    const subject = await signUpUser(small);
    await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
      select 'ord_cap_' || i, ${subject.id}, ${clock.now()}::timestamptz - make_interval(mins => i), 100 + i, 'EUR', 'delivered',
        '[{"sku":"SKU-1","name":"Wool socks","quantity":2,"unitPriceMinor":50}]'::jsonb
      from generate_series(1, 3000) as i`.execute(small.services.db);
    const operators = await Promise.all([1, 2, 3].map((n) => clientToken(small, ['users:admin', ...EXPORT_SCOPES], `agt_01J000000000000000000OPEN${n}`)));
    const open = (token: string) =>
      small.http.inject({ method: 'GET', url: `/users/${subject.id}/export`, headers: { authorization: `Bearer ${token}` }, payloadAsStream: true });
    const held = [await open(operators[0]!), await open(operators[1]!)];
    expect(held.map((response) => response.statusCode)).toEqual([200, 200]);

    const refused = await small.http.inject({ method: 'GET', url: `/users/${subject.id}/export`, headers: { authorization: `Bearer ${operators[2]}` } });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'at most 2 data exports may run at once on this instance; retry later' });
    // A refusal for want of room reads nothing of the person, and is no export of them.
    await small.services.audit.flush();
    const audited = await findAuditEvents(small.services.db, { filter: { userId: subject.id, action: 'data.exported' }, first: 10 });
    expect(audited.edges).toHaveLength(0);

    await drain(held[0]!);
    const own = await exportOf(small, subject.id, operators[2]!);
    expect(own.status).toBe(200);
    expect(own.body.orders).toHaveLength(3000);
    await drain(held[1]!);
  });
});

describe('a reader that stops reading', () => {
  /**
   * Short enough for a test to wait out; long beside a page read and the pauses of `readSlowly`,
   * even when the machine is so busy that a page read or a timer takes several times as long.
   */
  const STALL_MS = 5_000;
  /**
   * How long a test waits for what follows from a stall: the buffers fill only once the hub has
   * read and written some 36 MB of the document, which a busy machine may make many times slower,
   * and the cut comes one to two stall timeouts after that.
   */
  const SETTLES_MS = STALL_MS * 8;
  /** What a test here may take in all: a wait of `SETTLES_MS`, then whole documents read besides. */
  const TEST_MS = SETTLES_MS * 3;
  /**
   * Orders of about 11 kB each: some 66 MB, more than the largest a connection's buffers may grow
   * to on this kind of machine (32 MB to receive, 4 MB to send), however the kernel tunes them.
   */
  const ORDERS = 6_000;
  let server: FastifyInstance;
  let base: string;
  let mallory: Awaited<ReturnType<typeof signUpUser>>;

  beforeAll(async () => {
    // The export route on a listening server of its own, as the hub registers it but with a stall
    // timeout a test can wait out: only a real connection has the backpressure of a reader.
    server = Fastify({ forceCloseConnections: true });
    registerBearerAuth(server, { routes: PROTECTED_ROUTES, authenticate: (token) => hub.services.tokens.authenticateInSteps(token), resourceMetadataUrl: resourceMetadataUrl(hub.config) });
    await registerExportRoutes(server, hub.services, { stallTimeoutMs: STALL_MS });
    base = await server.listen({ host: '127.0.0.1', port: 0 });
    mallory = await signUpUser(hub);
    await sql`insert into orders (id, user_id, placed_at, total_minor, currency, status, line_items)
      select 'ord_big_' || lpad(i::text, 5, '0'), ${mallory.id}, ${clock.now()}::timestamptz - make_interval(mins => i), 100 + i, 'EUR', 'delivered',
        jsonb_build_array(jsonb_build_object('sku', 'SKU-1', 'name', repeat('x', 11000), 'quantity', 1, 'unitPriceMinor', 50))
      from generate_series(1, ${ORDERS}) as i`.execute(hub.services.db);
  });
  afterAll(() => server.close());

  /** GET /users/:id/export over a connection of its own; resolves once the status is in, the body unread. */
  function openExport(userId: string, token: string): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      http.get(`${base}/users/${userId}/export`, { headers: { authorization: `Bearer ${token}` }, agent: false }, resolve).on('error', reject);
    });
  }

  /**
   * The answer to an export asked for every 100 ms while it is refused for want of a slot, for at
   * most `withinMs`: a slot is freed as its export's body closes, a moment after the export is
   * audited, so a request made at once may still be refused.
   */
  async function exportOnceFree(userId: string, token: string, withinMs: number): Promise<http.IncomingMessage> {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const response = await openExport(userId, token);
      if (response.statusCode !== 429 || Date.now() > deadline) return response;
      response.resume();
      await sleep(100);
    }
  }

  /** The whole body, read with a pause of `pauseMs` after every `everyBytes`, as a slow client reads. */
  async function readSlowly(response: http.IncomingMessage, pauseMs: number, everyBytes: number): Promise<string> {
    const chunks: Buffer[] = [];
    let since = 0;
    for await (const chunk of response) {
      chunks.push(chunk);
      since += chunk.length;
      if (since >= everyBytes) {
        since = 0;
        await sleep(pauseMs);
      }
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  const readWhole = (response: http.IncomingMessage) => readSlowly(response, 0, Infinity);

  /** Whether each export of `userId` audited so far went to its end, `false` first. */
  async function exportsCompleted(userId: string): Promise<unknown[]> {
    await hub.services.audit.flush();
    const exported = await findAuditEvents(hub.services.db, { filter: { userId, action: 'data.exported' }, first: 10 });
    return exported.edges.map((e) => e.node.detail.complete).sort();
  }

  it('is cut off once it has taken nothing for the stall timeout, which frees every slot it held', async () => {
    const alice = await signUpUser(hub);
    const operators = await Promise.all([1, 2, 3].map((n) => clientToken(hub, ['users:admin', ...EXPORT_SCOPES], `agt_01J000000000000000000ADMN${n}`)));
    const held = await Promise.all([mallory.accessToken, ...operators].map((token) => stalledGet(`${base}/users/${mallory.id}/export`, token)));
    // Should this test fail midway, Mallory's slot is not left held to fail the next ones too.
    onTestFinished(() => held.forEach(({ connection }) => connection.destroy()));
    expect(held.map((stalled) => stalled.status)).toEqual(Array(4).fill(200));

    const refused = await openExport(mallory.id, mallory.accessToken);
    expect(refused.statusCode).toBe(429);
    refused.resume();

    // Their readers take nothing, so only the hub can end these exports, and each is audited as
    // incomplete once it does. Waited for here rather than inferred from a freed slot: cutting off
    // Mallory's own already frees the slot asked for below, and an export read before its own cut
    // is a reader that resumed, which the hub rightly lets finish. Node re-arms a socket's timeout
    // once when the kernel has taken bytes since the last write, so a cut can come twice the stall
    // timeout after the buffers filled; the rest of the wait is for a loaded machine.
    await expect.poll(() => exportsCompleted(mallory.id), { timeout: SETTLES_MS, interval: 100 }).toEqual(Array(4).fill(false));

    const own = await exportOnceFree(alice.id, alice.accessToken, STALL_MS);
    expect(own.statusCode).toBe(200);
    expect(JSON.parse(await readWhole(own)).subject).toBe(alice.id);
    const again = await exportOnceFree(mallory.id, mallory.accessToken, STALL_MS);
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(await readWhole(again)).orders).toHaveLength(ORDERS);
    // Read now, each stalled export ends where the hub cut it off, short of a whole document.
    for (const { connection } of held) expect((await restOf(connection)).whole).toBe(false);
    expect(await exportsCompleted(mallory.id)).toEqual([...Array(4).fill(false), true]);
  }, TEST_MS);

  it('leaves everyone else’s export free while callers hold theirs without reading', async () => {
    // Four signed-in customers reading a byte now and then would hold their exports for as long
    // as they like; no number of them may shut out a fifth person's right of access.
    const zoe = await signUpUser(hub);
    const before = (await exportsCompleted(mallory.id)).length;
    const operators = await Promise.all([4, 5, 6, 7].map((n) => clientToken(hub, ['users:admin', ...EXPORT_SCOPES], `agt_01J000000000000000000ADMN${n}`)));
    const held = await Promise.all([mallory.accessToken, ...operators].map((token) => stalledGet(`${base}/users/${mallory.id}/export`, token)));
    onTestFinished(() => held.forEach(({ connection }) => connection.destroy()));
    expect(held.map((stalled) => stalled.status)).toEqual(Array(5).fill(200));
    const own = await openExport(zoe.id, zoe.accessToken);
    expect(own.statusCode).toBe(200);
    expect(JSON.parse(await readWhole(own)).subject).toBe(zoe.id);
    for (const { connection } of held) connection.destroy();
    // Each ends as its connection goes, freeing its caller's slot.
    await expect.poll(async () => (await exportsCompleted(mallory.id)).length, { timeout: SETTLES_MS, interval: 100 }).toBe(before + 5);
  }, TEST_MS);

  it('lets a slow reader that keeps reading finish, however long the whole export takes', async () => {
    const started = Date.now();
    const response = await openExport(mallory.id, mallory.accessToken);
    expect(response.statusCode).toBe(200);
    // Eight pauses of a fifth of the stall timeout: longer in all than the stall timeout, however
    // fast the rest of the read, but each far short of it, however late its timer fires.
    const body = JSON.parse(await readSlowly(response, STALL_MS * 0.2, 8_000_000));
    expect(body.orders).toHaveLength(ORDERS);
    expect(Date.now() - started).toBeGreaterThan(STALL_MS);
  }, TEST_MS);

  it('is cut short once the session that began the export signs out, as every request of it is', async () => {
    const session = await signIn(hub, mallory);
    const response = await openExport(mallory.id, session.accessToken);
    expect(response.statusCode).toBe(200);
    response.setEncoding('utf8');
    let body = '';
    await new Promise<void>((resolve) => response.once('data', (chunk: string) => resolve(void (body += chunk))));
    response.pause();
    expect((await postForm(hub, '/oauth/revoke', { token: session.refreshToken, client_id: 'hub-frontend' })).status).toBe(200);
    response.on('data', (chunk: string) => (body += chunk));
    await new Promise((resolve) => response.once('close', resolve).resume());
    expect(response.complete).toBe(false);
    // What the connection's buffers held and a page read ahead, never the rest of the record.
    expect(body.match(/"ord_big_/g)?.length ?? 0).toBeLessThan(ORDERS * 0.8);
  });
});
