import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';
import { ERASE } from '../privacy/privacy-fixtures.js';
import { endDeliveriesAboutErasedUser, WEBHOOK_EVENT_TYPES } from '../../src/webhooks/webhook-outbox.js';

let database: TestDatabase;
let hub: Hub;
beforeAll(async () => {
  database = await createTestDatabase();
  hub = await createHub(loadConfig({ ...TEST_ENV, HUB_WEBHOOK_WORKER: 'false', HUB_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8' }), { database });
});
afterAll(() => hub.close());

/**
 * What an erasure does to the webhook deliveries about the person (src/webhooks/webhook-outbox.ts):
 * a redelivery racing it never leaves one waiting, and finding theirs reads the index of the
 * person a message is about (migration 0024), not every message waiting.
 */
describe('an operator redelivery racing an erasure', () => {
  it.runIf(testServerUrl() !== undefined)('never leaves the erased person’s consent.given pending', async () => {
    const admin = await operatorToken(hub);
    const sub = await graphql<any>(hub, 'mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { subscription { id } } }', {
      token: admin,
      variables: { input: { url: 'http://127.0.0.1:8080/crm', eventTypes: ['consent.given', 'user.erased'] } },
    });
    const subscriptionId: string = sub.data.createWebhookSubscription.subscription.id;
    const alice = await signUpUser(hub);
    await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
    const { rows } = await sql<{ id: string }>`select id from webhook_messages where event_type = 'consent.given' and body like ${`%${alice.id}%`}`.execute(hub.services.db);
    const messageId = rows[0]!.id;
    // The receiver failed this delivery for good earlier.
    await sql`update webhook_deliveries set status = 'failed', next_attempt_at = null where message_id = ${messageId}`.execute(hub.services.db);

    // Another session (a delivery worker, say) holds the delivery's row for a moment.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    await holder.query('begin');
    await holder.query('select 1 from webhook_deliveries where message_id = $1 for update', [messageId]);

    const redelivery = graphql<any>(hub, 'mutation($m: ID!, $s: ID!) { redeliverWebhookMessage(messageId: $m, subscriptionId: $s) { status } }', {
      token: admin,
      variables: { m: messageId, s: subscriptionId },
    });
    // The redelivery has checked that Alice is not erased and now waits for the row.
    for (let i = 0; i < 100; i++) {
      const waiting = await holder.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%webhook_deliveries%'`);
      if (waiting.rows[0].n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Alice's erasure runs meanwhile (given a moment to finish, or to wait for the redelivery).
    const erasure = graphql<any>(hub, ERASE, { token: alice.accessToken, variables: { id: alice.id } });
    await Promise.race([erasure, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    await holder.query('commit');
    await holder.end();
    const [erased, redelivered] = await Promise.all([erasure, redelivery]);
    expect(erased.errors).toBeUndefined();
    // Accepted (the erasure then waited for it, and ended it) or refused (BAD_USER_INPUT), never a 500.
    expect(redelivered.errors?.[0]?.extensions?.code ?? 'accepted').toMatch(/^(accepted|BAD_USER_INPUT)$/);

    const after = await sql<{ status: string }>`select status from webhook_deliveries where message_id = ${messageId}`.execute(hub.services.db);
    // Alice is erased: her consent.given must not be waiting to go out.
    expect(after.rows[0]!.status).not.toBe('pending');
  });
});

describe('an erasure with the person’s events still waiting', () => {
  it('ends those that tell of what the person did or had, and keeps those of an end, the erasure’s own and earlier ones alike', async () => {
    const admin = await operatorToken(hub);
    const sub = await graphql<any>(hub, 'mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { subscription { id } } }', {
      token: admin,
      variables: { input: { url: 'http://127.0.0.1:8080/down', eventTypes: [...WEBHOOK_EVENT_TYPES] } },
    });
    const subscriptionId: string = sub.data.createWebhookSubscription.subscription.id;
    const bea = await signUpUser(hub);
    await registerAgent(hub, bea.accessToken, { allowedScopes: ['orders:read'], ownerUserId: bea.id });
    await giveConsent(hub, bea.accessToken, { purpose: 'email_marketing' });
    // A session she ended before the erasure: its token.revoked waits too.
    expect((await postForm(hub, '/oauth/revoke', { token: bea.refreshToken, client_id: 'hub-frontend' })).status).toBe(200);
    const erased = await graphql<any>(hub, ERASE, { token: (await signIn(hub, bea)).accessToken, variables: { id: bea.id } });
    expect(erased.errors).toBeUndefined();

    const { rows } = await sql<{ event_type: string; statuses: string[] }>`
      select m.event_type, array_agg(distinct d.status order by d.status) as statuses
      from webhook_deliveries d join webhook_messages m on m.id = d.message_id
      where d.subscription_id = ${subscriptionId} and m.body like ${`%${bea.id}%`}
      group by m.event_type order by m.event_type`.execute(hub.services.db);
    expect(rows).toEqual([
      { event_type: 'agent.decommissioned', statuses: ['pending'] },
      { event_type: 'agent.registered', statuses: ['failed'] },
      { event_type: 'consent.given', statuses: ['failed'] },
      { event_type: 'consent.withdrawn', statuses: ['pending'] },
      { event_type: 'token.revoked', statuses: ['pending'] },
      { event_type: 'user.erased', statuses: ['pending'] },
    ]);
  });
});

describe('an erasure on a large outbox', () => {
  it('finds the person’s messages by the index of whom each is about, not by reading every message waiting', async () => {
    const db = database.db;
    const now = new Date('2031-01-01T00:00:00Z');
    await sql`insert into webhook_subscriptions (id, url, event_types, secret_sealed, status, created_at, updated_at)
      values ('whk_' || lpad('1', 26, '0'), 'https://crm.example/hook', array['consent.given'], '\\x00'::bytea, 'enabled', ${now}, ${now})`.execute(db);
    // A receiver down for a while: many consent.given of other people waiting.
    await sql`insert into webhook_messages (id, event_type, body, created_at)
      select 'msg_' || i, 'consent.given', json_build_object('type', 'consent.given', 'timestamp', '2031-01-01T00:00:00Z',
        'data', json_build_object('consentId', 'cns_' || i, 'userId', 'usr_other' || i, 'purpose', 'email_marketing', 'agentId', null))::text, ${now}
      from generate_series(1, 5000) i`.execute(db);
    await sql`insert into webhook_deliveries (subscription_id, message_id, status, trigger, next_attempt_at, created_at)
      select 'whk_' || lpad('1', 26, '0'), 'msg_' || i, 'pending', 'scheduled', ${now}, ${now} from generate_series(1, 5000) i`.execute(db);
    await sql`analyze webhook_messages`.execute(db);
    await sql`analyze webhook_deliveries`.execute(db);
    await db.transaction().execute(async (tx) => {
      expect(await endDeliveriesAboutErasedUser(tx, 'usr_other42')).toBe(1);
      const plan = await sql<{ 'QUERY PLAN': string }>`explain (costs off) update webhook_deliveries d set status = 'failed'
        from webhook_messages m where d.message_id = m.id and d.status = 'pending'
        and coalesce(m.body::jsonb #>> '{data,userId}', m.body::jsonb #>> '{data,ownerUserId}') = 'usr_erased'`.execute(tx);
      expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('webhook_messages_person');
    });
  });
});
