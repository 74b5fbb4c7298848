import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { hashAuditRow } from '../../src/audit/audit.hash.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { readEvent } from './audit-fixtures.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

const now = new Date('2025-06-15T12:00:00.000Z');

describe('verifyAuditChains against forged rows', () => {
  it.each([1, 2, 3, 4])('finds a second event under an event’s id and seq, hashed right but at another time, %i events a page', async (pageSize) => {
    const db = await createTestDatabase();
    try {
      const [, second] = await appendAuditEvents(db.db, [readEvent({ subjectUserId: 'usr_dup' }), readEvent({ subjectUserId: 'usr_dup' }), readEvent({ subjectUserId: 'usr_dup' })], now);
      const original = await db.db.selectFrom('audit_events').selectAll().where('id', '=', second!.id).executeTakeFirstOrThrow();
      const { hash: _, ...content } = original;
      const forged = { ...content, occurred_at: new Date('2025-06-15T12:00:00.001Z'), fields_read: ['email', 'orders', 'paymentMethods'] };
      await db.db.insertInto('audit_events').values({ ...forged, prev_hash: Buffer.from(forged.prev_hash), hash: hashAuditRow(forged), detail: JSON.stringify(forged.detail) }).execute();
      expect((await verifyAuditChains(db.db, { pageSize })).broken).toMatchObject({ chainKey: 'usr_dup', seq: 2, eventId: second!.id });
    } finally {
      await db.close();
    }
  });

  it('finds a column its hash does not cover, added with a default so that no row trigger fires', async () => {
    const db = await createTestDatabase();
    try {
      const [first] = await appendAuditEvents(db.db, [readEvent({ subjectUserId: 'usr_wider' })], now);
      await sql`alter table audit_events add column note text default 'read with the user’s consent'`.execute(db.db);
      expect((await verifyAuditChains(db.db)).broken).toEqual({
        chainKey: 'usr_wider',
        seq: 1,
        eventId: first!.id,
        problem: 'the event holds columns its hash does not cover: note',
      });
    } finally {
      await db.close();
    }
  });
});
