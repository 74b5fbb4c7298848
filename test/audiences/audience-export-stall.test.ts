import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { MAX_EXPORTS_PER_CLIENT, registerAudienceRoutes } from '../../src/audiences/audience.routes.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { loadConfig } from '../../src/config.js';
import { registerBearerAuth } from '../../src/http/bearer.js';
import { PROTECTED_ROUTES } from '../../src/http/server.js';
import { resourceMetadataUrl } from '../../src/oauth/discovery.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql } from '../helpers/hub.js';
import { restOf, stalledGet } from '../helpers/net.js';

/**
 * Short enough for a test to wait out; long beside the read of a batch and the handling of a
 * request, even on a machine so busy that these take several times as long: the request refused
 * below must come before the exports it is refused for are cut off.
 */
const STALL_MS = 8_000;
/**
 * Members of about 16 kB a line each: some 64 MB, more than the largest a connection's buffers may
 * grow to on this kind of machine (32 MB to receive, 4 MB to send), however the kernel tunes them.
 */
const MEMBERS = 4_000;
const CLIENT = 'agt_01J00000000000000000STALL';

let hub: Hub;
let server: FastifyInstance;
let base: string;
let marketing: string;
let audienceId: string;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
  // The export route on a listening server of its own, as the hub registers it but with a stall
  // timeout a test can wait out: only a real connection has the backpressure of a reader.
  server = Fastify({ forceCloseConnections: true });
  registerBearerAuth(server, { routes: PROTECTED_ROUTES, authenticate: (token) => hub.services.tokens.authenticateInSteps(token), resourceMetadataUrl: resourceMetadataUrl(hub.config) });
  await registerAudienceRoutes(server, hub.services, { stallTimeoutMs: STALL_MS });
  base = await server.listen({ host: '127.0.0.1', port: 0 });
  marketing = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read', 'preferences:read'], CLIENT);
  // Written directly, a thousand customers a statement: through the API would only be slow.
  for (let from = 0; from < MEMBERS; from += 1_000) {
    const to = from + 999;
    await sql`insert into users (id, email, country)
      select 'usr_stall' || lpad(g::text, 8, '0'), repeat('x', 16000) || g || '@example.com', 'IS' from generate_series(${from}::int, ${to}::int) g`.execute(hub.services.db);
    await sql`insert into consents (id, user_id, purpose, agent_id, scopes, given_at, collection_method, policy_version)
      select 'cns_stall' || lpad(g::text, 8, '0'), 'usr_stall' || lpad(g::text, 8, '0'), 'email_marketing', null, '{}', now(), 'sign_up_form', '1'
      from generate_series(${from}::int, ${to}::int) g`.execute(hub.services.db);
  }
  const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
    token: marketing,
    variables: { input: { name: 'Iceland', purpose: 'email_marketing', filter: { countries: ['IS'] } } },
  });
  audienceId = created.data.createAudience.id;
}, 120_000);
afterAll(async () => {
  await server?.close();
  await hub?.close();
});

/** GET /audiences/:id/export over a connection of its own; resolves once the status is in, the body unread. */
function openExport(): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get(`${base}/audiences/${audienceId}/export`, { headers: { authorization: `Bearer ${marketing}` }, agent: false }, resolve).on('error', reject);
  });
}

async function readWhole(response: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** How many exports of the client were audited so far. */
async function exportsAudited(): Promise<number> {
  await hub.services.audit.flush();
  const exported = await findAuditEvents(hub.services.db, { filter: { agentId: CLIENT, action: 'audience.exported' }, first: 10 });
  return exported.edges.length;
}

describe('an audience export whose reader stops reading', () => {
  it('is cut off once its connection has moved nothing for the stall timeout, which frees the client’s slot', async () => {
    const held = await Promise.all(Array.from({ length: MAX_EXPORTS_PER_CLIENT }, () => stalledGet(`${base}/audiences/${audienceId}/export`, marketing)));
    expect(held.map((stalled) => stalled.status)).toEqual(Array(MAX_EXPORTS_PER_CLIENT).fill(200));
    const refused = await openExport();
    expect(refused.statusCode).toBe(429);
    refused.resume();

    // Their readers take nothing, so only the hub can end these exports and free the slots. Node
    // re-arms a socket's timeout once when the kernel has taken bytes since the last write, so a
    // cut can come twice the stall timeout after the buffers filled, and the buffers fill only once
    // the hub has written some 36 MB to each, which a busy machine may make many times slower.
    const deadline = Date.now() + STALL_MS * 8;
    let again = await openExport();
    while (again.statusCode === 429 && Date.now() < deadline) {
      again.resume();
      await sleep(100);
      again = await openExport();
    }
    expect(again.statusCode).toBe(200);
    expect((await readWhole(again)).split('\n').filter(Boolean)).toHaveLength(MEMBERS);
    // A freed slot shows one export cut off, not both: the other's cut may come a stall timeout
    // later, and read before it, it is a reader that resumed, which the hub rightly lets finish.
    // Each export is audited as it ends, so that is what is waited for.
    await expect.poll(exportsAudited, { timeout: STALL_MS * 4, interval: 100 }).toBe(MAX_EXPORTS_PER_CLIENT + 1);
    // Read now, each stalled export ends where the hub cut it off.
    for (const { connection } of held) expect((await restOf(connection)).whole).toBe(false);
  }, STALL_MS * 20);
});
