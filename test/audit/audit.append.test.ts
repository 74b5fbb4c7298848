import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { ensureAuditPartitions } from '../../src/audit/audit.queries.js';
import { GENESIS_HASH } from '../../src/audit/audit.hash.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';
import { chainOf, countEvents, headOf, partitionOf, readEvent } from './audit-fixtures.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const now = new Date('2025-06-15T12:00:00.000Z');

describe('appendAuditEvents', () => {
  it('links the events of each subject into a chain of their own, and events about no user into `hub`', async () => {
    const { db } = database;
    await appendAuditEvents(db, [readEvent({ subjectUserId: 'usr_a' }), readEvent({ subjectUserId: 'usr_b' }), readEvent({ subjectUserId: 'usr_a' })], now);
    await appendAuditEvents(db, [readEvent({ subjectUserId: 'usr_a' }), { action: 'key.rotated', actor: { kind: 'system', id: null }, decision: 'ALLOW' }], now);

    const a = await chainOf(db, 'usr_a');
    expect(a.map((e) => e.chain_seq)).toEqual([1, 2, 3]);
    expect(Buffer.from(a[0]!.prev_hash).equals(GENESIS_HASH)).toBe(true);
    expect(Buffer.from(a[1]!.prev_hash).equals(Buffer.from(a[0]!.hash))).toBe(true);
    expect(Buffer.from(a[2]!.prev_hash).equals(Buffer.from(a[1]!.hash))).toBe(true);
    expect((await chainOf(db, 'usr_b')).map((e) => e.chain_seq)).toEqual([1]);
    expect((await chainOf(db, 'hub')).map((e) => e.chain_seq)).toEqual([1]);

    const head = await headOf(db, 'usr_a');
    expect(head?.seq).toBe(3);
    expect(Buffer.from(head!.hash).equals(Buffer.from(a[2]!.hash))).toBe(true);
    expect(await verifyAuditChains(db)).toEqual({ chains: 3, events: 5, broken: undefined });
  });

  it('returns the stored events, secrets scrubbed, with the time given', async () => {
    const [event] = await appendAuditEvents(database.db, [readEvent({ subjectUserId: 'usr_ret', detail: { password: 'x', kept: true } })], now);
    expect(event).toMatchObject({ subjectUserId: 'usr_ret', occurredAt: now, decision: 'ALLOW', detail: { kept: true } });
    const { rows } = await sql<{ detail: unknown }>`select detail from audit_events where id = ${event!.id}`.execute(database.db);
    expect(rows[0]!.detail).toEqual({ kept: true });
  });

  it('hashes a detail of awkward JSON so that the row read back verifies', async () => {
    const detail = { n: 1.5, big: 12345678901234567890, tiny: 1e-7, s: 'ü 😀 "q" \\ \n', list: [1, 'a', null, { z: 1, a: [] }], '': 'empty', '10': 'x', '9': 'y', when: new Date(0) };
    await appendAuditEvents(database.db, [readEvent({ subjectUserId: 'usr_json', detail })], now);
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });

  it('leaves no event and no head change when the transaction rolls back', async () => {
    const { db } = database;
    await appendAuditEvents(db, [readEvent({ subjectUserId: 'usr_rb' })], now);
    const before = await headOf(db, 'usr_rb');
    const events = await countEvents(db);
    await expect(
      db.transaction().execute(async (trx) => {
        await appendAuditEvents(trx, [readEvent({ subjectUserId: 'usr_rb' }), readEvent({ subjectUserId: 'usr_never' })], now);
        throw new Error('the audited change failed');
      }),
    ).rejects.toThrow('the audited change failed');
    expect(await countEvents(db)).toBe(events);
    expect(await headOf(db, 'usr_rb')).toEqual(before);
    expect(await headOf(db, 'usr_never')).toBeUndefined();
  });

  it('opens a transaction of its own on a plain instance: an event the database refuses leaves its chain’s head as it was', async () => {
    const { db } = database;
    await appendAuditEvents(db, [readEvent({ subjectUserId: 'usr_own' })], now);
    const before = await headOf(db, 'usr_own');
    // An actor id far past what a B-tree index entry can hold: the head is moved, then the event refused.
    const refused = readEvent({ subjectUserId: 'usr_own', actor: { kind: 'delegated', id: `agt_${randomBytes(8_000).toString('hex')}` } });
    await expect(appendAuditEvents(db, [refused], now)).rejects.toThrow();
    expect(await headOf(db, 'usr_own')).toEqual(before);
    expect((await verifyAuditChains(db)).broken).toBeUndefined();
  });

  it('writes nothing for a malformed event, even among good ones', async () => {
    const events = await countEvents(database.db);
    await expect(appendAuditEvents(database.db, [readEvent(), readEvent({ action: 'nope' as never })], now)).rejects.toThrow(TypeError);
    expect(await countEvents(database.db)).toBe(events);
  });

  it('links a large batch correctly', async () => {
    const batch = Array.from({ length: 2_500 }, (_, i) => readEvent({ subjectUserId: `usr_big${i % 3}` }));
    await appendAuditEvents(database.db, batch, now);
    expect((await headOf(database.db, 'usr_big0'))?.seq).toBe(834);
    expect((await verifyAuditChains(database.db, { pageSize: 700 })).broken).toBeUndefined();
  });

  it('keeps one valid chain when two transactions append for the same user at once', async () => {
    const { db } = database;
    const append = (n: number) => db.transaction().execute((trx) => appendAuditEvents(trx, Array.from({ length: n }, () => readEvent({ subjectUserId: 'usr_same' })), now));
    await Promise.all([append(3), append(4), append(2)]);
    expect((await chainOf(db, 'usr_same')).map((e) => e.chain_seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await verifyAuditChains(db)).broken).toBeUndefined();
  });
});

// Two open transactions need two connections; PGlite has one.
describe.skipIf(!testServerUrl())('concurrent appends on a server', () => {
  const { waiters } = lockHolder(() => database.db);

  it('do not wait on each other for different users', async () => {
    const { db } = database;
    await appendAuditEvents(db, [readEvent({ subjectUserId: 'usr_x' }), readEvent({ subjectUserId: 'usr_y' })], now);
    const a = await db.startTransaction().execute();
    const b = await db.startTransaction().execute();
    try {
      await appendAuditEvents(a, [readEvent({ subjectUserId: 'usr_x' })], now);
      await sql`set local lock_timeout = '3s'`.execute(b);
      await appendAuditEvents(b, [readEvent({ subjectUserId: 'usr_y' }), readEvent({ subjectUserId: 'usr_new' })], now);
      await b.commit().execute();
      await a.commit().execute();
    } finally {
      if (!a.isCommitted) await a.rollback().execute();
      if (!b.isCommitted && !b.isRolledBack) await b.rollback().execute();
    }
    expect((await headOf(db, 'usr_x'))?.seq).toBe(2);
    expect((await headOf(db, 'usr_y'))?.seq).toBe(2);
  });

  it('wait for each other for the same user, then continue the chain', async () => {
    const { db } = database;
    const a = await db.startTransaction().execute();
    await appendAuditEvents(a, [readEvent({ subjectUserId: 'usr_z' })], now);
    let bDone = false;
    const b = db.transaction().execute((trx) => appendAuditEvents(trx, [readEvent({ subjectUserId: 'usr_z' })], now)).then(() => (bDone = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(bDone).toBe(false);
    await appendAuditEvents(a, [readEvent({ subjectUserId: 'usr_z' })], now);
    await a.commit().execute();
    await b;
    expect((await chainOf(db, 'usr_z')).map((e) => e.chain_seq)).toEqual([1, 2, 3]);
    expect((await verifyAuditChains(db)).broken).toBeUndefined();
  });

  it('lock the heads of one call in sorted order, so a change that audits its subjects in separate calls does not deadlock with it', async () => {
    const { db } = database;
    const change = await db.startTransaction().execute();
    try {
      await appendAuditEvents(change, [readEvent({ subjectUserId: 'usr_sorted_a' })], now);
      // Given b first, the call waits for a before it takes b.
      const call = db.transaction().execute((trx) => appendAuditEvents(trx, [readEvent({ subjectUserId: 'usr_sorted_b' }), readEvent({ subjectUserId: 'usr_sorted_a' })], now));
      await waiters(1);
      await appendAuditEvents(change, [readEvent({ subjectUserId: 'usr_sorted_b' })], now);
      await change.commit().execute();
      await call;
    } finally {
      if (!change.isCommitted) await change.rollback().execute();
    }
    expect((await headOf(db, 'usr_sorted_a'))?.seq).toBe(2);
    expect((await headOf(db, 'usr_sorted_b'))?.seq).toBe(2);
    expect((await verifyAuditChains(db)).broken).toBeUndefined();
  });

  it('create a month’s partitions once when several instances make sure of them at once', async () => {
    const created = await Promise.all(Array.from({ length: 4 }, () => ensureAuditPartitions(database.db, new Date('2094-09-01T00:00:00.000Z'))));
    expect(created.flat().sort()).toEqual(['audit_events_2094_09', 'audit_events_2094_10']);
  });

  it('give up creating a partition within seconds rather than queue every append behind a long reader', async () => {
    const { db } = database;
    const reader = await db.startTransaction().execute();
    try {
      await sql`select count(*) from audit_events`.execute(reader);
      const started = Date.now();
      await expect(ensureAuditPartitions(db, new Date('2097-03-01T00:00:00.000Z'))).rejects.toMatchObject({ code: '55P03' });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await reader.commit().execute();
    }
    expect(await ensureAuditPartitions(db, new Date('2097-03-01T00:00:00.000Z'))).toEqual(['audit_events_2097_03', 'audit_events_2097_04']);
  });
});

describe('partitions', () => {
  it('exist for the month of the migration and the next once migrated', async () => {
    const { rows } = await sql<{ name: string }>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'audit_events'::regclass order by 1`.execute(database.db);
    // The month the run's template was migrated in, not this one: a run can cross a month's end.
    const { rows: [migrated] } = await sql<{ timestamp: string }>`select timestamp from kysely_migration where name = '0003_audit'`.execute(database.db);
    const month = (offset: number) => {
      const d = new Date(migrated!.timestamp);
      const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset, 1));
      return `audit_events_${m.toISOString().slice(0, 7).replace('-', '_')}`;
    };
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining(['audit_events_default', month(0), month(1)]));
  });

  it('take an event in a month without a partition into the default one; that month is then left to it', async () => {
    const { db } = database;
    const [stray] = await appendAuditEvents(db, [readEvent({ subjectUserId: 'usr_future' })], new Date('2099-06-15T00:00:00.000Z'));
    expect(await partitionOf(db, stray!.id)).toBe('audit_events_default');

    expect(await ensureAuditPartitions(db, new Date('2099-06-20T00:00:00.000Z'))).toEqual(['audit_events_2099_07']);
    expect(await ensureAuditPartitions(db, new Date('2099-06-20T00:00:00.000Z'))).toEqual([]);
    const [later] = await appendAuditEvents(db, [readEvent({ subjectUserId: 'usr_future' })], new Date('2099-07-31T23:59:59.999Z'));
    expect(await partitionOf(db, later!.id)).toBe('audit_events_2099_07');
    expect(await partitionOf(db, stray!.id)).toBe('audit_events_default');
    await expect(sql`truncate audit_events_2099_07`.execute(db)).rejects.toThrow(/TRUNCATE on audit_events_2099_07 is not allowed: the table is append-only/);
    expect((await verifyAuditChains(db)).broken).toBeUndefined();
  });
});
