import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { hashAuditRow } from '../../src/audit/audit.hash.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import type { Db } from '../../src/db/connect.js';
import { newId } from '../../src/shared/ids.js';
import { createTestDatabase, withTestDatabase, type TestDatabase } from '../helpers/database.js';
import { readEvent } from './audit-fixtures.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const now = new Date('2025-06-15T12:00:00.000Z');

/** The stored events of a chain, whole, in seq order. */
async function storedChain(db: Db, chainKey: string) {
  return db.selectFrom('audit_events').selectAll().where('chain_key', '=', chainKey).orderBy('chain_seq').execute();
}

/**
 * Adds an event after the last of `chainKey` as a forger who knows the format would: `changes`
 * applied to a copy of that event, its hash computed over the result. The chain head is moved
 * onto it when `moveHead`, as a forger with write access to the heads would.
 */
async function forgeAfterLast(db: Db, chainKey: string, changes: Record<string, unknown>, moveHead: boolean) {
  const last = (await storedChain(db, chainKey)).at(-1)!;
  const { hash: _, ...content } = last;
  const forged = { ...content, id: newId('evt'), chain_seq: last.chain_seq + 1, prev_hash: Buffer.from(last.hash), ...changes };
  const hash = hashAuditRow(forged);
  await db.insertInto('audit_events').values({ ...forged, hash, detail: JSON.stringify(forged.detail) }).execute();
  if (moveHead) await db.updateTable('audit_chain_heads').set({ seq: forged.chain_seq, hash }).where('chain_key', '=', chainKey).execute();
  return forged;
}

/** Rewrites one event, its hash recomputed over what it now says, with the append-only guard switched off, as a superuser could. */
async function rewriteAndRehash(db: Db, id: string, changes: Record<string, unknown>) {
  const original = await db.selectFrom('audit_events').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const { hash: _, ...content } = original;
  const rewritten = { ...content, ...changes };
  await sql`alter table audit_events disable trigger audit_events_append_only`.execute(db);
  try {
    await db.deleteFrom('audit_events').where('id', '=', id).execute();
    await db.insertInto('audit_events').values({ ...rewritten, hash: hashAuditRow(rewritten), detail: JSON.stringify(rewritten.detail) }).execute();
  } finally {
    await sql`alter table audit_events enable trigger audit_events_append_only`.execute(db);
  }
}

describe('verifyAuditChains against forged rows', () => {
  it.each([1, 2, 3, 4])('finds a second event under an event’s id and seq, hashed right but at another time, %i events a page', async (pageSize) => {
    await withTestDatabase(async (db) => {
      const [, second] = await appendAuditEvents(db.db, [readEvent({ subjectUserId: 'usr_dup' }), readEvent({ subjectUserId: 'usr_dup' }), readEvent({ subjectUserId: 'usr_dup' })], now);
      const original = await db.db.selectFrom('audit_events').selectAll().where('id', '=', second!.id).executeTakeFirstOrThrow();
      const { hash: _, ...content } = original;
      const forged = { ...content, occurred_at: new Date('2025-06-15T12:00:00.001Z'), fields_read: ['email', 'orders', 'paymentMethods'] };
      await db.db.insertInto('audit_events').values({ ...forged, prev_hash: Buffer.from(forged.prev_hash), hash: hashAuditRow(forged), detail: JSON.stringify(forged.detail) }).execute();
      expect((await verifyAuditChains(db.db, { pageSize })).broken).toMatchObject({ chainKey: 'usr_dup', seq: 2, eventId: second!.id });
    });
  });

  it('finds a column its hash does not cover, added with a default so that no row trigger fires', async () => {
    await withTestDatabase(async (db) => {
      const [first] = await appendAuditEvents(db.db, [readEvent({ subjectUserId: 'usr_wider' })], now);
      await sql`alter table audit_events add column note text default 'read with the user’s consent'`.execute(db.db);
      expect((await verifyAuditChains(db.db)).broken).toEqual({
        chainKey: 'usr_wider',
        seq: 1,
        eventId: first!.id,
        problem: 'the event holds columns its hash does not cover: note',
      });
    });
  });

  it('finds an event rewritten with its hash recomputed, at the next event, whose prev_hash no longer matches', async () => {
    await withTestDatabase(async (db) => {
      const [, second, third] = await appendAuditEvents(db.db, [readEvent(), readEvent(), readEvent()], now);
      await rewriteAndRehash(db.db, second!.id, { fields_read: ['email'], fields_denied: ['orders', 'phone'] });
      expect((await verifyAuditChains(db.db)).broken).toEqual({ chainKey: 'usr_alice', seq: 3, eventId: third!.id, problem: 'prev_hash does not match the hash of the previous event' });
    });
  });

  it('finds a first event rewritten with its hash recomputed from another start than the genesis hash', async () => {
    await withTestDatabase(async (db) => {
      const [first] = await appendAuditEvents(db.db, [readEvent()], now);
      await rewriteAndRehash(db.db, first!.id, { prev_hash: Buffer.alloc(32, 1) });
      await db.db.updateTable('audit_chain_heads').set({ hash: (await storedChain(db.db, 'usr_alice'))[0]!.hash }).where('chain_key', '=', 'usr_alice').execute();
      expect((await verifyAuditChains(db.db)).broken).toEqual({ chainKey: 'usr_alice', seq: 1, eventId: first!.id, problem: 'the first event does not start from the genesis hash' });
    });
  });

  it('finds a gap in the seqs, though every link and the head hold', async () => {
    await withTestDatabase(async (db) => {
      await appendAuditEvents(db.db, [readEvent()], now);
      const forged = await forgeAfterLast(db.db, 'usr_alice', { chain_seq: 3 }, true);
      expect((await verifyAuditChains(db.db)).broken).toEqual({ chainKey: 'usr_alice', seq: 3, eventId: forged.id, problem: 'seq 3 where 2 was expected' });
    });
  });

  it('finds an event about one user linked into another user’s chain', async () => {
    await withTestDatabase(async (db) => {
      await appendAuditEvents(db.db, [readEvent()], now);
      const forged = await forgeAfterLast(db.db, 'usr_alice', { subject_user_id: 'usr_bob' }, true);
      expect((await verifyAuditChains(db.db)).broken).toEqual({ chainKey: 'usr_alice', seq: 2, eventId: forged.id, problem: 'the event is in another chain than its subject' });
    });
  });

  it.each([1, 1_000])('checks the head of every chain, not only the last one walked, %i events a page', async (pageSize) => {
    await withTestDatabase(async (db) => {
      await appendAuditEvents(db.db, [readEvent({ subjectUserId: 'usr_a' }), readEvent({ subjectUserId: 'usr_b' })], now);
      const forged = await forgeAfterLast(db.db, 'usr_a', {}, false);
      expect((await verifyAuditChains(db.db, { pageSize })).broken).toEqual({ chainKey: 'usr_a', seq: 2, eventId: forged.id, problem: 'the chain head is at seq 1 but the last event is at seq 2' });
    });
  });

  it('finds a chain head whose hash is not that of the chain’s last event', async () => {
    await withTestDatabase(async (db) => {
      const [first] = await appendAuditEvents(db.db, [readEvent()], now);
      await db.db.updateTable('audit_chain_heads').set({ hash: Buffer.alloc(32, 7) }).where('chain_key', '=', 'usr_alice').execute();
      expect((await verifyAuditChains(db.db)).broken).toEqual({ chainKey: 'usr_alice', seq: 1, eventId: first!.id, problem: 'the chain head hash does not match the last event' });
    });
  });
});
