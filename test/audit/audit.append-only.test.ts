import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { hashAuditRow } from '../../src/audit/audit.hash.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { newId } from '../../src/shared/ids.js';
import { copyTemplateInto, createTestDatabase, withTestDatabase, type TestDatabase } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';
import { freePort } from '../helpers/net.js';
import { headOf, partitionOf, readEvent } from './audit-fixtures.js';

const APPEND_ONLY = /is not allowed: the table is append-only/;
const now = new Date('2025-06-15T12:00:00.000Z');

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
  await appendAuditEvents(database.db, [readEvent(), readEvent(), readEvent({ subjectUserId: null })], now);
});
afterAll(() => database.close());

/** Rewrites one column of one event with the append-only guard switched off, as a superuser could. */
async function tamper(db: Db, id: string, change: ReturnType<typeof sql>): Promise<void> {
  await sql`alter table audit_events disable trigger audit_events_append_only`.execute(db);
  try {
    await sql`update audit_events set ${change} where id = ${id}`.execute(db);
  } finally {
    await sql`alter table audit_events enable trigger audit_events_append_only`.execute(db);
  }
}

describe('the database refuses to rewrite the audit trail', () => {
  it.each([
    ['UPDATE', sql`update audit_events set reason = 'edited'`],
    ['DELETE', sql`delete from audit_events`],
    ['TRUNCATE', sql`truncate audit_events`],
    ['TRUNCATE', sql`truncate audit_events_default`],
    ['DELETE', sql`delete from audit_chain_heads`],
    ['TRUNCATE', sql`truncate audit_chain_heads`],
  ])('%s: %#', async (operation, statement) => {
    const error = await statement.execute(database.db).then(() => undefined, (e: unknown) => e as { message: string; code: string });
    expect(error?.message).toMatch(APPEND_ONLY);
    expect(error?.message).toContain(operation);
    expect(error?.code).toBe('42501');
  });

  it.each(['UPDATE', 'DELETE'])('refuses %s on a partition addressed by its own name', async (operation) => {
    const { rows } = await sql<{ id: string }>`select id from audit_events limit 1`.execute(database.db);
    const part = sql.table(await partitionOf(database.db, rows[0]!.id));
    const statement = operation === 'UPDATE' ? sql`update ${part} set reason = 'edited'` : sql`delete from ${part}`;
    const error = await statement.execute(database.db).then(() => undefined, (e: unknown) => e as { message: string; code: string });
    expect(error?.message).toMatch(APPEND_ONLY);
    expect(error?.message).toContain(operation);
    expect(error?.code).toBe('42501');
  });

  it('refuses TRUNCATE on a monthly partition too', async () => {
    const { rows } = await sql<{ name: string }>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'audit_events'::regclass and c.relname <> 'audit_events_default' limit 1`.execute(database.db);
    await expect(sql`truncate ${sql.table(rows[0]!.name)}`.execute(database.db)).rejects.toThrow(APPEND_ONLY);
  });
});

describe('verifyAuditChains', () => {
  it('finds every chain whole, on data read back through this driver', async () => {
    expect(await verifyAuditChains(database.db)).toEqual({ chains: 2, events: 3, broken: undefined });
  });

  it('names the event changed behind the code’s back', async () => {
    await withTestDatabase(async (db) => {
      const [, second] = await appendAuditEvents(db.db, [readEvent(), readEvent(), readEvent()], now);
      await tamper(db.db, second!.id, sql`fields_read = '{email}'`);
      expect((await verifyAuditChains(db.db)).broken).toEqual({
        chainKey: 'usr_alice',
        seq: 2,
        eventId: second!.id,
        problem: 'hash does not match the content of the event',
      });
    });
  });

  it('names a forged event inserted with a plausible hash but no head', async () => {
    await withTestDatabase(async (db) => {
      await appendAuditEvents(db.db, [readEvent(), readEvent()], now);
      const head = await headOf(db.db, 'usr_alice');
      const forged = forgedRow(newId('evt'), 3, Buffer.from(head!.hash));
      await db.db.insertInto('audit_events').values({ ...forged, hash: hashAuditRow(forged), detail: '{}' }).execute();
      expect((await verifyAuditChains(db.db)).broken).toEqual({
        chainKey: 'usr_alice',
        seq: 3,
        eventId: forged.id,
        problem: 'the chain head is at seq 2 but the last event is at seq 3',
      });
    });
  });

  it('names a forged event that repeats a seq, and reports the first break in chain order', async () => {
    await withTestDatabase(async (db) => {
      await appendAuditEvents(db.db, [readEvent({ subjectUserId: 'usr_b' }), readEvent({ subjectUserId: 'usr_b' }), readEvent({ subjectUserId: 'usr_c' })], now);
      const forged = { ...forgedRow(newId('evt'), 1, Buffer.alloc(32)), subject_user_id: 'usr_b', chain_key: 'usr_b' };
      await db.db.insertInto('audit_events').values({ ...forged, hash: Buffer.alloc(32), detail: '{}' }).execute();
      const c = await db.db.selectFrom('audit_events').select('id').where('chain_key', '=', 'usr_c').executeTakeFirstOrThrow();
      await tamper(db.db, c.id, sql`reason = 'edited'`);
      expect((await verifyAuditChains(db.db, { pageSize: 1 })).broken).toEqual({ chainKey: 'usr_b', seq: 1, eventId: forged.id, problem: 'seq 1 repeats' });
    });
  });

  it('notices a chain head whose events are gone', async () => {
    await withTestDatabase(async (db) => {
      await appendAuditEvents(db.db, [readEvent()], now);
      await db.db.insertInto('audit_chain_heads').values({ chain_key: 'usr_ghost', seq: 4, hash: Buffer.alloc(32) }).execute();
      const result = await verifyAuditChains(db.db);
      expect(result).toEqual({ chains: 1, events: 1, broken: { chainKey: 'usr_ghost', seq: 4, eventId: null, problem: 'the chain head names events that do not exist' } });
    });
  });

  it('reports progress page by page', async () => {
    const seen: number[] = [];
    await verifyAuditChains(database.db, { pageSize: 1, onProgress: ({ events }) => seen.push(events) });
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe('hub audit verify', () => {
  // The CLI runs in a process of its own: on a server it reaches a test database by URL; on PGlite
  // it opens a data directory, which one process at a time may hold.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-audit-'));
  let server: TestDatabase | undefined;
  const usingCliDatabase = async <T>(work: (db: Db) => Promise<T>): Promise<T> => {
    if (server) return work(server.db);
    const handle = openDatabase({ dataDir: dir });
    try {
      return await work(handle.db);
    } finally {
      await handle.close();
    }
  };
  const verify = () =>
    runNode({ PATH: process.env.PATH, LOG_LEVEL: 'silent', ...(server ? { DATABASE_URL: server.url } : { HUB_DATA_DIR: dir }) }, 'bin/hub.js', 'audit', 'verify');
  beforeAll(async () => {
    if (database.url) server = await createTestDatabase();
    else await copyTemplateInto(dir);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints ok and exits 0 on a whole trail, names the broken link and exits 1 on a tampered one', async () => {
    const events = await usingCliDatabase((db) => appendAuditEvents(db, [readEvent(), readEvent(), readEvent({ subjectUserId: null })], now));
    const ok = await verify();
    expect(ok.stdout).toBe('ok: 2 chains, 3 events\n');
    expect(ok.status).toBe(0);

    const tampered = events[1]!.id;
    await usingCliDatabase((db) => tamper(db, tampered, sql`fields_denied = '{}'`));
    const broken = await verify();
    expect(broken.stdout).toBe(`broken: chain usr_alice at seq 2 (event ${tampered}): hash does not match the content of the event\n`);
    expect(broken.status).toBe(1);
  }, 120_000);

  it('exits 2, not 1, when it cannot check: a database it cannot reach is no sign of tampering', async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/nothing`;
    const run = await runNode({ PATH: process.env.PATH, LOG_LEVEL: 'silent', DATABASE_URL: url, HUB_DB_CONNECT_TIMEOUT: '0' }, 'bin/hub.js', 'audit', 'verify');
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^hub: audit not verified: .+\n$/);
  }, 120_000);

  it('has --help', async () => {
    const help = await runNode({ PATH: process.env.PATH }, 'bin/hub.js', 'audit', 'verify', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: hub audit verify');
  });
});

function forgedRow(id: string, seq: number, prevHash: Buffer) {
  return {
    id,
    occurred_at: now,
    action: 'profile.read',
    actor_kind: 'user' as const,
    actor_id: 'usr_alice',
    actor_chain: [],
    subject_user_id: 'usr_alice',
    client_id: null,
    purpose: null,
    consent_id: null,
    fields_read: ['email', 'phone', 'address'],
    fields_denied: [],
    decision: 'allow' as const,
    reason: null,
    request_id: null,
    detail: {},
    chain_key: 'usr_alice',
    chain_seq: seq,
    prev_hash: prevHash,
  };
}
