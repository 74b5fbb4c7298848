import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvents } from '../../src/audit/audit.append.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';
import { readEvent } from './audit-fixtures.js';

// `hub audit verify` runs against a hub that keeps appending: it reads every chain and every head
// as of one moment, so an event committed while it walks is no broken head. PGlite runs one
// transaction at a time, so the append in between needs a server.

let database: TestDatabase;

describe.skipIf(testServerUrl() === undefined)('verifying the audit chains while events are appended', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.close());
  const { holding, waiters } = lockHolder(() => database.db);

  it('reads the heads as of when it read the events, and finds nothing broken', async () => {
    const subject = 'usr_verify_live';
    await appendAuditEvents(database.db, [readEvent({ subjectUserId: subject }), readEvent({ subjectUserId: subject })], new Date());
    // An append not yet committed, holding the heads: the walk reads the events without it, then
    // waits to read the heads until it has committed.
    const held = await holding(async (tx) => {
      await sql`lock table audit_chain_heads in access exclusive mode`.execute(tx);
      await appendAuditEvents(tx, [readEvent({ subjectUserId: subject })], new Date());
    });
    const verified = verifyAuditChains(database.db);
    await waiters(1);
    await held.release();

    expect((await verified).broken).toBeUndefined();
    expect((await verifyAuditChains(database.db)).broken).toBeUndefined();
  });
});
