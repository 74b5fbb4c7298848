import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { subscriptionLoader } from './webhook.loaders.js';
import { WebhookDeliveryRef, WebhookSubscriptionRef } from './webhook.schema.js';
import type { SubscriptionWithSecret, WebhookSubscription } from './webhook.service.js';

const WebhookSubscriptionSecretRef = builder.objectRef<SubscriptionWithSecret>('WebhookSubscriptionSecret').implement({
  description: 'A subscription with a new signing secret. The secret is shown here once.',
  fields: (t) => ({
    subscription: t.field({ type: WebhookSubscriptionRef, resolve: (s) => s.subscription }),
    secret: t.exposeString('secret', { description: 'The `whsec_` secret receivers verify `webhook-signature` with (Standard Webhooks).' }),
  }),
});

const CreateWebhookSubscriptionInput = builder.inputType('CreateWebhookSubscriptionInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'http(s); its host must resolve to public addresses unless HUB_WEBHOOK_ALLOWED_NETWORKS allows it.' }),
    eventTypes: t.stringList({ required: true, description: 'See webhookEventTypes.' }),
    description: t.string(),
  }),
});

const UpdateWebhookSubscriptionInput = builder.inputType('UpdateWebhookSubscriptionInput', {
  description: 'What is left out stays as it is; description null clears it.',
  fields: (t) => ({
    url: t.string(),
    eventTypes: t.stringList(),
    description: t.string(),
  }),
});

const caller = (ctx: Context) => ({ principal: ctx.principal, requestId: ctx.requestId });

/** The subscription as a mutation left it, replacing any earlier load in this request. */
function fresh<T extends WebhookSubscription | SubscriptionWithSecret>(ctx: Context, result: T): T {
  const subscription = 'secret' in result ? result.subscription : (result as WebhookSubscription);
  subscriptionLoader(ctx).clear(subscription.id).prime(subscription.id, subscription);
  return result;
}

const admin = { operator: 'webhooks:admin' } as const;

builder.mutationFields((t) => ({
  createWebhookSubscription: t.field({
    type: WebhookSubscriptionSecretRef,
    description: 'Subscribes a URL to event types; webhooks:admin. The signing secret is shown once.',
    args: { input: t.arg({ type: CreateWebhookSubscriptionInput, required: true }) },
    authScopes: admin,
    resolve: async (_root, { input }, ctx) => fresh(ctx, await ctx.services.webhooks.create(input, caller(ctx))),
  }),
  updateWebhookSubscription: t.field({
    type: WebhookSubscriptionRef,
    description: 'Changes a subscription; webhooks:admin. Pending deliveries of an event type it no longer takes end as FAILED.',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateWebhookSubscriptionInput, required: true }) },
    authScopes: admin,
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.webhooks.update(String(args.id), args.input, caller(ctx))),
  }),
  enableWebhookSubscription: t.field({
    type: WebhookSubscriptionRef,
    description: 'Enables a subscription again; its pending deliveries go out.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: admin,
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.webhooks.setEnabled(String(args.id), true, caller(ctx))),
  }),
  disableWebhookSubscription: t.field({
    type: WebhookSubscriptionRef,
    description: 'Stops deliveries to a subscription: no new events reach it, pending ones wait.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: admin,
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.webhooks.setEnabled(String(args.id), false, caller(ctx))),
  }),
  deleteWebhookSubscription: t.id({
    description: 'Deletes a subscription with its pending deliveries and log; resolves to its id.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: admin,
    resolve: (_root, args, ctx) => ctx.services.webhooks.remove(String(args.id), caller(ctx)),
  }),
  rotateWebhookSecret: t.field({
    type: WebhookSubscriptionSecretRef,
    description: 'A new signing secret; the old one signs beside it for gracePeriodSeconds (default 86400, at most 7 days).',
    args: { id: t.arg.id({ required: true }), gracePeriodSeconds: t.arg.int() },
    authScopes: admin,
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.webhooks.rotateSecret(String(args.id), args.gracePeriodSeconds, caller(ctx))),
  }),
  redeliverWebhookMessage: t.field({
    type: WebhookDeliveryRef,
    description: 'Sends a message to a subscription again now, in a new round of attempts.',
    args: { subscriptionId: t.arg.id({ required: true }), messageId: t.arg.id({ required: true }) },
    authScopes: admin,
    resolve: (_root, args, ctx) => ctx.services.webhooks.redeliver(String(args.subscriptionId), String(args.messageId), caller(ctx)),
  }),
}));
