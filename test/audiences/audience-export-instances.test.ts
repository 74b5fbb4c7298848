import Fastify from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { exportSavedAudience } from '../../src/audiences/audience.export.js';
import type { AudienceReads } from '../../src/audiences/audience.reads.js';
import { registerAudienceRoutes } from '../../src/audiences/audience.routes.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { registerBearerAuth } from '../../src/http/bearer.js';
import { PROTECTED_ROUTES } from '../../src/http/server.js';
import { resourceMetadataUrl } from '../../src/oauth/discovery.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { definePurpose, giveConsent } from '../helpers/oauth.js';

// An audience export streams for as long as its reader reads (a slow reader is never cut off).
// What ends access elsewhere, on another instance sharing the database (on PGlite: the same one),
// must end the export's access too, as it ends every other read on the next request: a new
// purpose version that no longer covers a field, and the revocation of the exporter's token or
// the suspension of its client.

let one: Hub;
/** The instance running the export: a second one on the server, the same one on PGlite. */
let two: Hub;
let consentsAdmin: string;
let agentsAdmin: string;
let members: Awaited<ReturnType<typeof signUpUser>>[];
const TOOL = 'agt_01J0000000000000000000XINS';
const PURPOSE = 'instance_news';

beforeAll(async () => {
  const database = await createTestDatabase();
  one = await createHub(loadConfig(TEST_ENV), { database });
  two = database.url ? await createHub(loadConfig({ ...TEST_ENV, HUB_WEBHOOK_WORKER: 'false' }), { database: openDatabase({ url: database.url }) }) : one;
  consentsAdmin = await clientToken(one, ['consents:admin'], 'agt_01J0000000000000000000XADM');
  agentsAdmin = await clientToken(one, ['agents:admin', 'audience:read'], 'agt_01J0000000000000000000XAGA');
  expect(await definePurpose(one, consentsAdmin, PURPOSE, ['profile', 'contact.email'])).toBe('1');
  members = [];
  for (let i = 0; i < 8; i++) {
    const user = await signUpUser(one, { country: 'IE' });
    await giveConsent(one, user.accessToken, { purpose: PURPOSE });
    members.push(user);
  }
  members.sort((a, b) => (a.id < b.id ? -1 : 1));
});
afterAll(async () => {
  if (two !== one) await two.close();
  await one.close();
});

/** A saved audience of every member, saved by a fresh token of the tool client. */
async function savedAudience(token: string): Promise<string> {
  const created = await graphql<any>(one, 'mutation($i: CreateAudienceInput!) { createAudience(input: $i) { id } }', {
    token,
    variables: { i: { name: `Ireland ${Math.random()}`, purpose: PURPOSE, filter: { countries: ['IE'] } } },
  });
  expect(created.errors).toBeUndefined();
  return created.data.createAudience.id;
}

/**
 * The export on `two` of the audience in batches of one member, as the lines it sends, calling
 * `between` once the first line is out (three batches have been asked for by then); an export cut
 * short ends the lines there.
 */
async function exportOnTwo(token: string, id: string, between: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const principal = await two.services.tokens.authenticate(token);
  // As the route passes it (`FastifyRequest.recheckToken`): the token's check on `two`, again.
  const recheckToken = async () => void (await two.services.tokens.authenticate(token));
  const chunks = await exportSavedAudience(two.services, { principal, requestId: null }, id, { batchSize: 1, recheckToken });
  const lines: Record<string, unknown>[] = [];
  let first = true;
  try {
    for await (const chunk of chunks) {
      lines.push(...chunk.split('\n').filter(Boolean).map((line) => JSON.parse(line)));
      if (first) await between();
      first = false;
    }
  } catch {
    // Cut short: what was sent is what the reader got.
  }
  return lines;
}

describe('an audience export running while access ends elsewhere', () => {
  it('stops showing a field the purpose no longer covers, in the batches read after the new version reached its instance', async () => {
    const token = await clientToken(one, ['audience:read', 'profile:read', 'contact:read'], TOOL);
    const id = await savedAudience(token);
    const lines = await exportOnTwo(token, id, async () => {
      expect(await definePurpose(one, consentsAdmin, PURPOSE, ['profile'])).toBe('2');
      // Past the notification's delivery: the exporting instance's registry holds the new version.
      await expect.poll(async () => (await two.services.purposes.versions(PURPOSE))[0]?.version, { timeout: 5_000 }).toBe('2');
      // An audience query there now leaves the email out.
      const queried = await graphql<any>(two, `{ audience(purpose: "${PURPOSE}") { edges { node { id email } } } }`, { token });
      expect(queried.data.audience.edges.every((e: any) => e.node.email === null)).toBe(true);
    });
    expect(lines.map((l) => l.id)).toEqual(members.slice(0, lines.length).map((m) => m.id));
    // Every batch but the three asked for before was read after version 2 took effect everywhere:
    // none of them may show an email, whether the export leaves it out or ends.
    expect(lines.slice(3).filter((l) => l.email !== undefined).map((l) => l.email)).toEqual([]);
  });

  it('ends when the exporter loses access: its client suspended through another instance', async () => {
    // Back to a purpose covering the email, so only the loss of access stands in the way.
    await definePurpose(one, consentsAdmin, PURPOSE, ['profile', 'contact.email']);
    const token = await clientToken(one, ['audience:read', 'profile:read', 'contact:read'], TOOL);
    const id = await savedAudience(token);
    const lines = await exportOnTwo(token, id, async () => {
      const suspended = await graphql<any>(one, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: agentsAdmin, variables: { id: TOOL } });
      expect(suspended.data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
      // Every other request with the token is refused now, on either instance.
      expect((await graphql(two, '{ savedAudiences { edges { node { id } } } }', { token })).status).toBe(401);
    });
    // At most the batches asked for before the suspension: never the whole audience.
    expect(lines.length).toBeLessThanOrEqual(3);
  });
});

// What the route hands the export is the same on either database; the members its second batch
// needs are written at once on the server, and take a while of a busy machine on PGlite.
describe.skipIf(!testServerUrl())('an audience export over HTTP whose client is suspended while it runs', () => {
  // The route reads batches of 1,000 members where its exports may hold 1 MiB of lines (`exportBatchFor`):
  // one more makes a second batch, read after a check of the token.
  const MEMBERS = 1_001;
  const CLIENT = 'agt_01J0000000000000000000XRTE';
  const server = Fastify();
  let token: string;
  let id: string;
  /** Lets the statements of the export past the batch ends and the first batch run. */
  let open = () => {};

  beforeAll(async () => {
    // Written directly, as one statement each: through the API would only be slow.
    await sql`insert into users (id, email, country)
      select 'usr_rchk' || lpad(g::text, 22, '0'), 'rechecked' || g || '@example.com', 'FI' from generate_series(1, ${MEMBERS}::int) g`.execute(one.services.db);
    await sql`insert into consents (id, user_id, purpose, agent_id, scopes, given_at, collection_method, policy_version)
      select 'cns_rchk' || lpad(g::text, 22, '0'), 'usr_rchk' || lpad(g::text, 22, '0'), 'email_marketing', null, '{}', now(), 'sign_up_form', '1'
      from generate_series(1, ${MEMBERS}::int) g`.execute(one.services.db);
    const gate = new Promise<void>((resolve) => (open = resolve));
    let turns = 0;
    const gated: AudienceReads = (client) => {
      const own = one.services.audienceReads(client);
      return async <T>(read: () => Promise<T>) => {
        if (turns++ > 1) await gate;
        return own(read);
      };
    };
    // The route as the hub registers it, with the batches after the first held back until `open`.
    registerBearerAuth(server, { routes: PROTECTED_ROUTES, authenticate: (t) => one.services.tokens.authenticateInSteps(t), resourceMetadataUrl: resourceMetadataUrl(one.config) });
    await registerAudienceRoutes(server, { ...one.services, config: { ...one.services.config, maxUnreadAnswersMib: 1 }, audienceReads: gated });
    token = await clientToken(one, ['audience:read', 'profile:read'], CLIENT);
    const created = await graphql<any>(one, 'mutation($i: CreateAudienceInput!) { createAudience(input: $i) { id } }', {
      token,
      variables: { i: { name: 'Finland', purpose: 'email_marketing', filter: { countries: ['FI'] } } },
    });
    id = created.data.createAudience.id;
  }, 60_000);
  afterAll(async () => {
    open();
    await server.close();
  });

  it('ends before the batch read after it, as its token no longer stands', async () => {
    const response = await server.inject({ method: 'GET', url: `/audiences/${id}/export`, headers: { authorization: `Bearer ${token}` }, payloadAsStream: true });
    expect(response.statusCode).toBe(200);
    const suspended = await graphql<any>(one, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: agentsAdmin, variables: { id: CLIENT } });
    expect(suspended.data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
    open();
    let body = '';
    try {
      for await (const chunk of response.stream()) body += String(chunk);
    } catch {
      // Cut short: what was sent is what the reader got.
    }
    expect(body.split('\n').filter(Boolean)).toHaveLength(MEMBERS - 1);
  }, 60_000);
});
