import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../helpers/database.js';
import { graphql, signUpUser, TEST_ENV } from '../helpers/hub.js';

/**
 * A server whose disk is full refuses every write that needs a new page with SQLSTATE 53100
 * (disk_full) while it goes on answering reads; the audit trail, the table that grows fastest, is
 * where it shows first. Here the audit table refuses its inserts so, until `full` is turned off.
 */
async function setDiskFull(hub: Hub, full: boolean): Promise<void> {
  if (full) {
    await sql`
      create or replace function test_disk_full() returns trigger language plpgsql as $$
      begin
        raise exception 'could not extend file "base/16384/16385": No space left on device' using errcode = '53100';
      end
      $$`.execute(hub.services.db);
    await sql`create trigger test_disk_full before insert on audit_events for each row execute function test_disk_full()`.execute(hub.services.db);
  } else {
    await sql`drop trigger if exists test_disk_full on audit_events`.execute(hub.services.db);
  }
}

describe('a database whose disk is full', () => {
  it('never serves a profile read whose audit event it then drops', async () => {
    const database = await createTestDatabase();
    const hub = await createHub(loadConfig(TEST_ENV), { database, audit: { flushIntervalMs: 10, retryDelayMs: 10 } });
    onTestFinished(() => hub.close());
    const user = await signUpUser(hub);
    await hub.services.audit.flush();

    await setDiskFull(hub, true);
    const read = await graphql<{ me: { email: string } }>(hub, '{ me { email } }', { token: user.accessToken });
    // Let the writer try (and retry) the read's event while the disk is still full.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await setDiskFull(hub, false);
    await hub.services.audit.flush();

    const reads = await hub.services.db.selectFrom('audit_events').select('id').where('subject_user_id', '=', user.id).where('action', '=', 'profile.read').execute();
    // Either the read was turned away, or its audit event is in the trail.
    if (read.data?.me?.email === user.email) expect(reads, 'a profile read was served and its audit event dropped').toHaveLength(1);
    else expect(read.status).toBe(503);
  }, 60_000);
});
