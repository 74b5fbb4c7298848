import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import { decodeCursor, encodeCursor, pageSize, toConnection } from '../shared/pagination.js';
import { attemptsLoader, deliveriesLoader, subscriptionLoader } from './webhook.loaders.js';
import { personOfMessage, WEBHOOK_EVENT_TYPES } from './webhook-events.js';
import type { WebhookAttempt, WebhookDelivery, WebhookSubscription } from './webhook.service.js';
import { FAILING_DAYS } from './delivery-attempt.js';

const upper = <T extends string>(value: T) => value.toUpperCase() as Uppercase<T>;

const SubscriptionStatusEnum = builder.enumType('WebhookSubscriptionStatus', { values: ['ENABLED', 'DISABLED'] as const });
const DisabledReasonEnum = builder.enumType('WebhookDisabledReason', {
  description: `OPERATOR: disabled through the API. GONE: the receiver answered 410 Gone. FAILING: every attempt failed for ${FAILING_DAYS} days.`,
  values: ['OPERATOR', 'GONE', 'FAILING'] as const,
});
const DeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description: 'PENDING: an attempt is due or scheduled. SUCCEEDED: a 2xx came back. FAILED: every attempt failed, or 410 Gone.',
  values: ['PENDING', 'SUCCEEDED', 'FAILED'] as const,
});
const TriggerEnum = builder.enumType('WebhookDeliveryTrigger', {
  description: 'SCHEDULED: the event itself. MANUAL: an operator asked for a redelivery.',
  values: ['SCHEDULED', 'MANUAL'] as const,
});

const WebhookAttemptRef = builder.objectRef<WebhookAttempt>('WebhookAttempt').implement({
  description: 'One attempt to deliver a message.',
  fields: (t) => ({
    attempt: t.exposeInt('attempt', { description: 'Its number in its round of attempts, from 1.' }),
    trigger: t.field({ type: TriggerEnum, resolve: (a) => upper(a.trigger) }),
    attemptedAt: t.expose('attemptedAt', { type: 'DateTime' }),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: 'The receiver’s HTTP status; null when it did not answer.' }),
    error: t.exposeString('error', { nullable: true, description: 'Why it failed when there was no answer (timeout, refused address, …).' }),
    durationMs: t.exposeInt('durationMs'),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true, description: 'The next attempt it scheduled; null when the delivery ended.' }),
  }),
});

export const WebhookDeliveryRef = builder.objectRef<WebhookDelivery>('WebhookDelivery').implement({
  description: 'A message’s delivery to one subscription, with its attempts.',
  fields: (t) => ({
    messageId: t.exposeID('messageId', { description: 'The `webhook-id` header: the same on every attempt, for receivers to drop duplicates.' }),
    eventType: t.exposeString('eventType'),
    payload: t.string({
      description: 'The JSON body sent, as sent. A read of the data of the person it is about, in their trail.',
      // Shown, it tells an operator of the person's consents, sessions, status or agents: a read
      // of their data, into the request's `profile.read` event about them.
      resolve: (d, _args, ctx) => {
        const about = personOfMessage(d.eventType, d.body);
        if (about) ctx.access.note(about.userId, about.field);
        return d.body;
      },
    }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (d) => upper(d.status) }),
    trigger: t.field({ type: TriggerEnum, resolve: (d) => upper(d.trigger) }),
    attemptCount: t.exposeInt('attemptCount', { description: 'Attempts in the current round.' }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    attempts: t.field({
      type: [WebhookAttemptRef],
      description: 'Its attempts, oldest first (the newest 50).',
      resolve: (d, _args, ctx) => attemptsLoader(ctx).load({ subscriptionId: d.subscriptionId, messageId: d.messageId }),
    }),
  }),
});

const WebhookDeliveryConnectionRef = connectionRef('WebhookDelivery', WebhookDeliveryRef);

export const WebhookSubscriptionRef = builder.objectRef<WebhookSubscription>('WebhookSubscription').implement({
  description: 'A receiver of signed webhooks (Standard Webhooks) for some event types.',
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    description: t.exposeString('description', { nullable: true }),
    eventTypes: t.exposeStringList('eventTypes'),
    status: t.field({ type: SubscriptionStatusEnum, resolve: (s) => upper(s.status) }),
    disabledReason: t.field({ type: DisabledReasonEnum, nullable: true, resolve: (s) => (s.disabledReason ? upper(s.disabledReason) : null) }),
    previousSecretExpiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Until when the secret before the last rotation signs too (a second signature); null when only one signs.',
      // Past its end, the old secret no longer signs (delivery-attempt.ts), though the row keeps the time.
      resolve: (s, _args, ctx) => (s.previousSecretExpiresAt && s.previousSecretExpiresAt > ctx.services.clock.now() ? s.previousSecretExpiresAt : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    deliveries: t.field({
      type: WebhookDeliveryConnectionRef,
      description: 'The delivery log, newest message first.',
      args: { first: t.arg.int(), after: t.arg.string(), status: t.arg({ type: DeliveryStatusEnum }) },
      resolve: async (s, args, ctx) => {
        const limit = pageSize(args.first);
        const afterMessageId = args.after ? String(decodeCursor(args.after, ['msg'])[0]) : undefined;
        const status = args.status ? (args.status.toLowerCase() as WebhookDelivery['status']) : undefined;
        const rows = await deliveriesLoader(ctx, { limit: limit + 1, ...(afterMessageId && { afterMessageId }), ...(status && { status }) }).load(s.id);
        return toConnection(rows, limit, (d) => encodeCursor([d.messageId]), (d) => d);
      },
    }),
  }),
});

const WebhookSubscriptionConnectionRef = connectionRef('WebhookSubscription', WebhookSubscriptionRef);

builder.queryFields((t) => ({
  webhookSubscription: t.field({
    type: WebhookSubscriptionRef,
    nullable: true,
    description: 'A webhook subscription by id; webhooks:admin.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { operator: 'webhooks:admin' },
    resolve: (_root, args, ctx) => subscriptionLoader(ctx).load(String(args.id)),
  }),
  webhookSubscriptions: t.field({
    type: WebhookSubscriptionConnectionRef,
    description: 'Webhook subscriptions, oldest first; webhooks:admin.',
    args: { first: t.arg.int(), after: t.arg.string() },
    authScopes: { operator: 'webhooks:admin' },
    resolve: async (_root, args, ctx) => {
      const limit = pageSize(args.first);
      const key = args.after ? decodeCursor(args.after, ['date', 'string'], 'webhookSubscriptions') : undefined;
      const after = key && { createdAt: key[0], id: key[1] };
      const rows = await ctx.services.webhooks.list(ctx.services.db, { limit: limit + 1, ...(after && { after }) });
      for (const s of rows) subscriptionLoader(ctx).prime(s.id, s);
      return toConnection(rows, limit, (s) => encodeCursor([s.createdAt.toISOString(), s.id], 'webhookSubscriptions'), (s) => s);
    },
  }),
  webhookEventTypes: t.stringList({
    description: 'Every event type a subscription can ask for; webhooks:admin.',
    authScopes: { operator: 'webhooks:admin' },
    resolve: () => [...WEBHOOK_EVENT_TYPES],
  }),
}));
