import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Db } from '../../src/db/connect.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

// audience_members is kept exact by triggers in the transaction of every change (migration 0006).

let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
});
afterAll(() => hub.close());

/** The audience rows of these users, as comparable text. */
async function rowsOf(db: Db, userIds: readonly string[]): Promise<string[]> {
  const { rows } = await sql<{ row: string }>`select (m.*)::text as row from audience_members m where user_id = any(${[...userIds]}::text[]) order by purpose, user_id`.execute(db);
  return rows.map((r) => r.row);
}

/** Advisory locks this transaction holds: each rebuild of a user's rows takes one (migration 0011). */
async function advisoryLocks(tx: Db): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()`.execute(tx);
  return rows[0]!.n;
}

describe('audience rows', () => {
  it('are rebuilt for changes of consents to the company only: withdrawing consents to an agent takes no lock per person', async () => {
    const admin = await operatorToken(hub);
    const assistant = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const users: string[] = [];
    for (let i = 0; i < 3; i++) {
      const user = await signUpUser(hub, { country: 'DK' });
      await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
      await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'] });
      users.push(user.id);
    }
    const before = await rowsOf(hub.services.db, users);
    expect(before).toHaveLength(3);

    // Decommissioning an agent withdraws its consents in one statement: a lock per person there
    // would exhaust PostgreSQL's lock table for an agent that many thousands consented to.
    await hub.services.db.transaction().execute(async (tx) => {
      await sql`update consents set status = 'withdrawn', withdrawn_at = now() where agent_id = ${assistant.id}`.execute(tx);
      expect(await advisoryLocks(tx)).toBe(0);
    });
    expect(await rowsOf(hub.services.db, users)).toEqual(before);

    await hub.services.db.transaction().execute(async (tx) => {
      await sql`update consents set status = 'withdrawn', withdrawn_at = now() where user_id = any(${users}::text[]) and agent_id is null`.execute(tx);
      expect(await advisoryLocks(tx)).toBe(3);
    });
    expect(await rowsOf(hub.services.db, users)).toEqual([]);
  });

  it('hold a user’s consents to the company only, whatever consents to agents the rebuild reads beside them', async () => {
    const admin = await operatorToken(hub);
    const assistant = await registerAgent(hub, admin, { allowedScopes: ['orders:read', 'contact:read', 'profile:read'] });
    const user = await signUpUser(hub, { country: 'DK' });
    await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'] });
    await giveConsent(hub, user.accessToken, { purpose: 'email_marketing', agentId: assistant.id, scopes: ['contact.email:read'] });
    expect(await rowsOf(hub.services.db, [user.id])).toEqual([]);
    // A consent to the company rebuilds the user's rows from every consent of theirs.
    await giveConsent(hub, user.accessToken, { purpose: 'personalization' });
    const { rows } = await sql<{ purpose: string }>`select purpose from audience_members where user_id = ${user.id}`.execute(hub.services.db);
    expect(rows).toEqual([{ purpose: 'personalization' }]);
  });
});
