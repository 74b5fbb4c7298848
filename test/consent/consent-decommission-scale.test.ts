import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, graphql } from '../helpers/hub.js';
import { operatorToken, registerAgent } from '../helpers/oauth.js';

/** The long runs: set by `.ci/run` for the pass on the PostgreSQL server. */
const LONG = process.env.HUB_LONG_TESTS === '1';

/** Past what one statement could carry: PostgreSQL takes at most 65,535 parameters. */
const PEOPLE = 12_000;

// Decommissioning an agent withdraws every consent naming it, in one transaction, each with its
// ledger event, withdrawal receipt, audit event and webhook message: an assistant that many
// thousands of people consented to must be stoppable as surely as one with a few. A long run:
// it signs and records twelve thousand withdrawals.
describe.skipIf(!LONG || !testServerUrl())(`decommissioning an agent ${PEOPLE} people consented to`, () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
  });
  afterAll(() => hub.close());

  it('withdraws every consent naming it, each recorded with its signed receipt', async () => {
    const admin = await operatorToken(hub);
    const assistant = await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    // Written directly, a thousand people a statement: through the API would only be slow.
    for (let from = 0; from < PEOPLE; from += 1_000) {
      const to = Math.min(from + 1_000, PEOPLE) - 1;
      await sql`insert into users (id) select 'usr_scale' || lpad(g::text, 8, '0') from generate_series(${from}::int, ${to}::int) g`.execute(hub.services.db);
      await sql`insert into consents (id, user_id, purpose, agent_id, scopes, given_at, collection_method, policy_version)
        select 'cns_scale' || lpad(g::text, 8, '0'), 'usr_scale' || lpad(g::text, 8, '0'), 'support', ${assistant.id}, '{orders:read}', now(), 'self_service', '1'
        from generate_series(${from}::int, ${to}::int) g`.execute(hub.services.db);
    }

    const response = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: admin, variables: { id: assistant.id } });
    expect(response.errors).toBeUndefined();
    expect(response.data.decommissionAgent.status).toBe('DECOMMISSIONED');

    const { rows } = await sql<{ withdrawn: number; events: number; receipts: number }>`select
      (select count(*)::int from consents where agent_id = ${assistant.id} and status = 'withdrawn') as withdrawn,
      (select count(*)::int from consent_events e join consents c on c.id = e.consent_id where c.agent_id = ${assistant.id} and e.kind = 'withdrawn') as events,
      (select count(*)::int from consent_events e join consents c on c.id = e.consent_id where c.agent_id = ${assistant.id} and e.kind = 'withdrawn' and e.detail ? 'receipt') as receipts`.execute(hub.services.db);
    expect(rows[0]).toEqual({ withdrawn: PEOPLE, events: PEOPLE, receipts: PEOPLE });
  }, 300_000);
});
