import { createHub, type Hub, type HubOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { graphql, TEST_ENV } from '../helpers/hub.js';
import { operatorToken } from '../helpers/oauth.js';

/** Loopback only, which the test receivers listen on. */
export const LOOPBACK = '127.0.0.0/8,::1/128';

export type TestClock = ReturnType<typeof fixedClock>;

/**
 * A hub on a fresh database whose time is `clock`, with no background delivery worker (tests
 * run workers themselves) and loopback allowed as a webhook target unless `env` says otherwise.
 * The caller closes it.
 */
export async function startWebhookHub(
  env: Record<string, string> = {},
  clock: TestClock = fixedClock(new Date()),
  options: Pick<HubOptions, 'housekeepingEveryMs'> = {},
): Promise<{ hub: Hub; clock: TestClock; database: TestDatabase }> {
  const database = await createTestDatabase();
  const hub = await createHub(loadConfig({ ...TEST_ENV, HUB_WEBHOOK_WORKER: 'false', HUB_WEBHOOK_ALLOWED_NETWORKS: LOOPBACK, ...env }), { database, clock, ...options });
  return { hub, clock, database };
}

/** An operator token with every operator scope, valid at the hub's current time. */
export const adminToken = (hub: Hub) => operatorToken(hub);

export const SUBSCRIPTION_FIELDS = 'id url description eventTypes status disabledReason previousSecretExpiresAt createdAt updatedAt';

/** Subscribes `url` to `eventTypes`; resolves to the subscription's id and its secret. */
export async function subscribe(hub: Hub, token: string, url: string, eventTypes: string[]): Promise<{ id: string; secret: string }> {
  const response = await graphql<{ createWebhookSubscription: { secret: string; subscription: { id: string } } }>(
    hub,
    'mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { secret subscription { id } } }',
    { token, variables: { input: { url, eventTypes } } },
  );
  if (!response.data?.createWebhookSubscription) throw new Error(`subscribe failed: ${JSON.stringify(response.errors)}`);
  return { id: response.data.createWebhookSubscription.subscription.id, secret: response.data.createWebhookSubscription.secret };
}

export interface DeliveryView {
  messageId: string;
  eventType: string;
  payload: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  trigger: 'SCHEDULED' | 'MANUAL';
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  attempts: { attempt: number; trigger: string; attemptedAt: string; statusCode: number | null; error: string | null; nextAttemptAt: string | null }[];
}

/** The subscription's delivery log through the API, newest first. */
export async function deliveryLog(hub: Hub, token: string, subscriptionId: string): Promise<DeliveryView[]> {
  const response = await graphql<{ webhookSubscription: { deliveries: { edges: { node: DeliveryView }[] } } }>(
    hub,
    `query($id: ID!) { webhookSubscription(id: $id) { deliveries(first: 100) { edges { node {
      messageId eventType payload status trigger attemptCount nextAttemptAt lastStatusCode lastError deliveredAt
      attempts { attempt trigger attemptedAt statusCode error nextAttemptAt } } } } } }`,
    { token, variables: { id: subscriptionId } },
  );
  if (!response.data?.webhookSubscription) throw new Error(`deliveryLog failed: ${JSON.stringify(response.errors)}`);
  return response.data.webhookSubscription.deliveries.edges.map((e) => e.node);
}
