import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';
import { ERASE, agentReads } from './privacy-fixtures.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
let admin: string;
let subscriptionId: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;

beforeAll(async () => {
  hub = await createHub(loadConfig({ ...TEST_ENV, HUB_WEBHOOK_WORKER: 'false', HUB_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8' }), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  const sub = await graphql<any>(hub, 'mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { subscription { id } } }', {
    token: admin,
    variables: { input: { url: 'http://127.0.0.1:8080/crm', eventTypes: ['consent.given', 'consent.withdrawn', 'user.erased'] } },
  });
  subscriptionId = sub.data.createWebhookSubscription.subscription.id;
  alice = await signUpUser(hub, { givenName: 'Alice', familyName: 'Erasmus' });
  await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
  const assistant = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  const handed = await signIn(hub, alice);
  await agentReads(hub, assistant, alice.accessToken, handed.accessToken);
  const erased = await graphql<any>(hub, ERASE, { token: alice.accessToken, variables: { id: alice.id } });
  expect(erased.errors).toBeUndefined();
  await hub.services.audit.flush();
});
afterAll(() => hub.close());

/** What an erasure leaves, read in the database: no webhook was delivered (the receiver is down). */
describe('what an erasure leaves behind', () => {
  it('deletes the person’s session rows (client, scope, sign-in times), which no law requires to keep', async () => {
    const rows = await hub.services.db.selectFrom('refresh_tokens').select(['client_id', 'auth_time', 'revoked_at']).where('user_id', '=', alice.id).execute();
    expect(rows).toEqual([]);
  });

  it('sends a receiver that was down none of the person’s events but those of an end, which then follow in order', async () => {
    const deliveries = await sql<{ event_type: string; status: string; last_error: string | null }>`
      select m.event_type, d.status, d.last_error from webhook_deliveries d join webhook_messages m on m.id = d.message_id
      where m.body like ${`%${alice.id}%`} order by m.created_at, m.event_type`.execute(hub.services.db);
    const ended = { status: 'failed', last_error: 'not sent: the person it is about was erased' };
    expect(deliveries.rows).toEqual([
      { event_type: 'consent.given', ...ended },
      { event_type: 'consent.given', ...ended },
      { event_type: 'consent.withdrawn', status: 'pending', last_error: null },
      { event_type: 'consent.withdrawn', status: 'pending', last_error: null },
      { event_type: 'user.erased', status: 'pending', last_error: null },
    ]);
  });

  it('refuses an operator’s redelivery of an erased person’s old consent event', async () => {
    const message = await sql<{ id: string }>`select id from webhook_messages where event_type = 'consent.given' and body like ${`%${alice.id}%`} limit 1`.execute(hub.services.db);
    const response = await graphql<any>(hub, 'mutation($m: ID!, $s: ID!) { redeliverWebhookMessage(messageId: $m, subscriptionId: $s) { status } }', {
      token: admin,
      variables: { m: message.rows[0]!.id, s: subscriptionId },
    });
    expect(response.data?.redeliverWebhookMessage ?? null).toBeNull();
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'messageId' });
  });
});
