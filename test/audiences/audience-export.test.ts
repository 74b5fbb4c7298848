import { AsyncLocalStorage } from 'node:async_hooks';
import { getDefaultHighWaterMark } from 'node:stream';
import { text } from 'node:stream/consumers';
import { sql, type KyselyPlugin } from 'kysely';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { exportSavedAudience, type ExportReads } from '../../src/audiences/audience.export.js';
import { limitAudienceReads } from '../../src/audiences/audience.reads.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let marketing: string;
let users: { id: string; accessToken: string; consentId: string }[];
let saved: string;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  marketing = await clientToken(hub, ['audience:read', 'profile:read', 'contact:read', 'preferences:read'], 'agt_01J0000000000000000000EXPT');
  users = [];
  for (let i = 0; i < 7; i++) {
    const user = await signUpUser(hub, { country: 'NL' });
    users.push({ ...user, consentId: await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' }) });
  }
  // In id order, an export's order.
  users.sort((a, b) => (a.id < b.id ? -1 : 1));
  const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
    token: marketing,
    variables: { input: { name: 'Netherlands', purpose: 'email_marketing', filter: { countries: ['NL'] } } },
  });
  saved = created.data.createAudience.id;
});
afterAll(() => hub.close());

/** The export in batches of `size`, as the lines' ids, calling `between` after the first chunk. */
async function exportInBatches(size: number, between: () => Promise<void> = async () => {}, reads?: ExportReads): Promise<string[]> {
  const principal = await hub.services.tokens.authenticate(marketing);
  const chunks = await exportSavedAudience(hub.services, { principal, requestId: null }, saved, { batchSize: size, ...(reads && { reads }) });
  const ids: string[] = [];
  let first = true;
  for await (const chunk of chunks) {
    ids.push(...chunk.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { id: string }).id));
    if (first) await between();
    first = false;
  }
  return ids;
}

describe('an export in batches', () => {
  it('holds every member once, in user-id order, whatever the batch size', async () => {
    const all = users.map((u) => u.id);
    for (const size of [1, 2, 3, 6, 7, 8, 50]) expect(await exportInBatches(size), String(size)).toEqual(all);
    const response = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${marketing}` } });
    expect(response.body.split('\n').filter(Boolean).map((line) => JSON.parse(line).id)).toEqual(all);
  });

  it('reads every batch through the turns it is given, shared by exports running at once', async () => {
    const turns = limitAudienceReads({ turnWaitMs: 30_000, max: 1 })('agt_01J0000000000000000000MKTG');
    let running = 0;
    let most = 0;
    let read = 0;
    const counted: ExportReads = (batch) =>
      turns(async () => {
        read++;
        most = Math.max(most, ++running);
        try {
          return await batch();
        } finally {
          running--;
        }
      });
    // 7 members in batches of 2: their ends and 4 batches each, read one at a time across both exports.
    const all = users.map((u) => u.id);
    expect(await Promise.all([exportInBatches(2, undefined, counted), exportInBatches(2, undefined, counted)])).toEqual([all, all]);
    expect({ read, most }).toEqual({ read: 10, most: 1 });
  });

  it('counts the batches, a scan of the whole audience, in a turn as well', async () => {
    // A statement over audience_members outside a turn is one the instance's four do not bound.
    const turn = new AsyncLocalStorage<true>();
    const scans: boolean[] = [];
    const noted: KyselyPlugin = {
      transformQuery: ({ node }) => {
        if (JSON.stringify(node).includes('"audience_members"')) scans.push(turn.getStore() === true);
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    const inTurn: ExportReads = (read) => turn.run(true, read);
    const principal = await hub.services.tokens.authenticate(marketing);
    const deps = { ...hub.services, db: hub.services.db.withPlugin(noted) };
    for await (const _ of await exportSavedAudience(deps, { principal, requestId: null }, saved, { batchSize: 2, reads: inTurn }));
    // The batch ends, then 4 batches (Kysely shows a plugin a subquery's node as well as its query's).
    expect(scans.length).toBeGreaterThanOrEqual(5);
    expect(scans.filter((inside) => !inside)).toEqual([]);
  });

  it('reads no batch whose turn comes after its reader left', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const sizes: number[] = [];
    let turns = 0;
    // The batch ends and the first batch read at once; the rest wait for `gate`.
    const gated: ExportReads = async <T>(batch: () => Promise<T>) => {
      if (turns++ > 1) await gate;
      const rows = await batch();
      sizes.push((rows as unknown[]).length);
      return rows;
    };
    const principal = await hub.services.tokens.authenticate(marketing);
    const chunks = await exportSavedAudience(hub.services, { principal, requestId: null }, saved, { batchSize: 2, reads: gated });
    const iterator = chunks[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    await iterator.return(undefined);
    open();
    // The batch ends (3 of them) were read, then the first two batches were asked for as the
    // export began, the third as the first was sent.
    await expect.poll(() => sizes.length).toBe(4);
    expect(sizes).toEqual([3, 2, 0, 0]);
  });

  it('leaves out a member who withdraws mid-export from the batches read after', async () => {
    // Batches of 2: the first is sent while the second is read; the last member's batch is read later.
    const last = users.at(-1)!;
    const ids = await exportInBatches(2, async () => {
      const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: last.accessToken, variables: { id: last.consentId } });
      expect(withdrawn.data.withdrawConsent.status).toBe('WITHDRAWN');
    });
    expect(ids).toEqual(users.slice(0, -1).map((u) => u.id));
  });

  it('leaves out of an export and a page a member whose user is no longer active though still listed, and reads on past them', async () => {
    // A suspension the triggers have not yet carried into audience_members (as in a race with it).
    const stale = users[1]!.id;
    const members = await exportInBatches(50);
    expect(members).toContain(stale);
    const setStatus = (status: string) =>
      hub.services.db.transaction().execute(async (tx) => {
        await sql`set local session_replication_role = replica`.execute(tx);
        await sql`update users set status = ${status} where id = ${stale}`.execute(tx);
      });
    await setStatus('suspended');
    try {
      const listed = await hub.services.db.selectFrom('audience_members').select('user_id').where('user_id', '=', stale).execute();
      expect(listed).toHaveLength(1);
      for (const size of [1, 2, 3]) expect(await exportInBatches(size), String(size)).toEqual(members.filter((id) => id !== stale));
      // Over HTTP: no line stands for them, not even an empty one, and the audit counts only the lines sent.
      const response = await hub.http.inject({ ...exportRequest(marketing), headers: { authorization: `Bearer ${marketing}`, 'x-request-id': 'req-stale' } });
      const lines = response.body.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(members.filter((id) => id !== stale));
      await hub.services.audit.flush();
      const event = await hub.services.db.selectFrom('audit_events').select('detail').where('request_id', '=', 'req-stale').executeTakeFirstOrThrow();
      expect((event.detail as { members: number }).members).toBe(members.length - 1);
      const page = await graphql<any>(hub, 'query { audience(purpose: "email_marketing", filter: { countries: ["NL"] }, first: 10) { edges { node { id } } } }', { token: marketing });
      expect(page.data.audience.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(members.filter((id) => id !== stale));
    } finally {
      await setStatus('active');
    }
  });

  it('audits the members a reader took, though it stopped before the end', async () => {
    const principal = await hub.services.tokens.authenticate(marketing);
    const chunks = await exportSavedAudience(hub.services, { principal, requestId: 'req-stopped' }, saved, { batchSize: 2 });
    let taken = 0;
    for await (const chunk of chunks) {
      taken += chunk.split('\n').filter(Boolean).length;
      break;
    }
    await hub.services.audit.flush();
    const event = await hub.services.db.selectFrom('audit_events').select(['action', 'detail']).where('request_id', '=', 'req-stopped').executeTakeFirstOrThrow();
    expect(taken).toBe(2);
    expect(event.action).toBe('audience.exported');
    expect(event.detail).toMatchObject({ savedAudienceId: saved, members: taken });
  });
});

/** The export of `id` over HTTP with `token`. */
const exportRequest = (token: string, id = saved): InjectOptions => ({ method: 'GET', url: `/audiences/${id}/export`, headers: { authorization: `Bearer ${token}` } });

describe('a HEAD of an export', () => {
  it('answers the headers after the same checks, reads no member and audits no export', async () => {
    const head = (token: string, id: string, requestId: string) =>
      hub.http.inject({ method: 'HEAD', url: `/audiences/${id}/export`, headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId } });
    const answered = await head(marketing, saved, 'req-head');
    expect(answered.statusCode).toBe(200);
    expect(answered.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(answered.headers['content-disposition']).toBe(`attachment; filename="${saved}.ndjson"`);
    expect(answered.body).toBe('');
    expect((await head(marketing, 'aud_01J00000000000000000000000', 'req-head-unknown')).statusCode).toBe(404);
    // A body read to nowhere would be audited as soon as its last batch was read: a few ms here.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await hub.services.audit.flush();
    const events = await hub.services.db.selectFrom('audit_events').select('action').where('request_id', 'in', ['req-head', 'req-head-unknown']).execute();
    expect(events).toEqual([]);
  });
});

describe('an export whose first batch fails', () => {
  it('fails before any line, answers an error status, audits no export, and frees its slot', async () => {
    const db = hub.services.db;
    const requestIds: string[] = [];
    // Only the batches read audience_members: the token, the audience and its purpose still load.
    await sql`alter table audience_members rename to audience_members_away`.execute(db);
    try {
      const principal = await hub.services.tokens.authenticate(marketing);
      await expect(exportSavedAudience(hub.services, { principal, requestId: 'req-first-batch' }, saved)).rejects.toThrow(/audience_members/);
      requestIds.push('req-first-batch');
      // One more than a client may run at once: a failed export that kept its slot would make a 429.
      for (let i = 0; i < 3; i++) {
        const response = await hub.http.inject(exportRequest(marketing));
        expect([response.statusCode, response.json()]).toEqual([500, { error: 'server_error', error_description: 'Internal server error' }]);
        requestIds.push(String(response.headers['x-request-id']));
      }
    } finally {
      await sql`alter table audience_members_away rename to audience_members`.execute(db);
    }
    await hub.services.audit.flush();
    expect(await db.selectFrom('audit_events').select('action').where('request_id', 'in', requestIds).execute()).toEqual([]);
    expect((await hub.http.inject(exportRequest(marketing))).statusCode).toBe(200);
  });
});

describe('an export whose first batch fails after its batch ends were read', () => {
  it('fails itself, rather than answering and then ending short', async () => {
    const principal = await hub.services.tokens.authenticate(marketing);
    let turns = 0;
    // The batch ends are read; the first batch then fails, the second is read.
    const failing: ExportReads = async <T>(read: () => Promise<T>) => {
      if (turns++ === 1) throw new Error('the first batch failed');
      return read();
    };
    await expect(exportSavedAudience(hub.services, { principal, requestId: 'req-first-batch-only' }, saved, { batchSize: 2, reads: failing })).rejects.toThrow('the first batch failed');
    expect(turns).toBeGreaterThan(1);
    await hub.services.audit.flush();
    expect(await hub.services.db.selectFrom('audit_events').select('action').where('request_id', '=', 'req-first-batch-only').execute()).toEqual([]);
  });
});

describe('exports running at once', () => {
  let other: string;
  let theirs: string;
  beforeAll(async () => {
    other = await clientToken(hub, ['audience:read', 'profile:read', 'preferences:read'], 'agt_01J0000000000000000000EXP2');
    const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
      token: other,
      variables: { input: { name: 'Theirs', purpose: 'email_marketing', filter: { countries: ['NL'] } } },
    });
    theirs = created.data.createAudience.id;
    // Lines past what an unread response buffers (the streams' default, 16 KiB before Node 22 and
    // 64 KiB since), each half of it: a reader that does not read holds its export open.
    const preferences = JSON.stringify({ sizes: { note: 'x'.repeat(getDefaultHighWaterMark(false) / 2) } });
    await hub.services.db.updateTable('users').set({ preferences }).where('id', 'in', users.map((u) => u.id)).execute();
  });

  /** An export whose body is left unread until `finish`, which reads it to the end. */
  async function held(token: string, id = saved) {
    const response = await hub.http.inject({ ...exportRequest(token, id), payloadAsStream: true });
    expect(response.statusCode).toBe(200);
    return { finish: async () => (await text(response.stream())).split('\n').filter(Boolean).length, response };
  }

  it('are at most two per client: a third answers 429 with Retry-After until one ends', async () => {
    const first = await held(marketing);
    const second = await held(marketing);
    const third = await hub.http.inject(exportRequest(marketing));
    expect([third.statusCode, third.headers['retry-after'], third.json()]).toEqual([
      429,
      '5',
      { error: 'too_many_requests', error_description: 'at most 2 exports of one client may run at once; retry later' },
    ]);
    // Another client's exports are counted apart.
    const theirsHeld = await held(other, theirs);

    const members = await first.finish();
    expect(members).toBeGreaterThan(0);
    const fourth = await hub.http.inject(exportRequest(marketing));
    expect(fourth.statusCode).toBe(200);
    expect(fourth.body.split('\n').filter(Boolean)).toHaveLength(members);
    expect(await second.finish()).toBe(members);
    expect(await theirsHeld.finish()).toBe(members);
  });

  it('are free again once read to the end: beside one held, one client’s exports one after another all start', async () => {
    const open = await held(marketing);
    for (let i = 0; i < 3; i++) expect((await hub.http.inject(exportRequest(marketing))).statusCode).toBe(200);
    await open.finish();
  });

  it('frees the slot of a reader that leaves before the end', async () => {
    const [first, second] = [await held(marketing), await held(marketing)];
    expect((await hub.http.inject(exportRequest(marketing))).statusCode).toBe(429);
    // What a dropped connection does to the response the hub writes.
    first.response.raw.res.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    const next = await held(marketing);
    await Promise.all([second.finish(), next.finish()]);
  });
});
