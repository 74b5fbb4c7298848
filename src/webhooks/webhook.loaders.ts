import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { Context } from '../graphql/context.js';
import { deliveryKey } from './delivery-log.queries.js';
import type { WebhookAttempt, WebhookDelivery, WebhookSubscription } from './webhook.service.js';
import type { DeliveryStatusColumn } from './webhook.tables.js';

/** Subscriptions by id, one query per request tick; unknown ids load as null. */
export const subscriptionLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, WebhookSubscription | null>(async (ids) => {
      const found = new Map((await ctx.services.webhooks.findSubscriptions(ctx.services.db, ids)).map((s) => [s.id, s]));
      return ids.map((id) => found.get(id) ?? null);
    }),
);

/** The page a `deliveries` field asks for; subscriptions asking for the same page load together. */
export interface DeliveryPage {
  readonly limit: number;
  readonly afterMessageId?: string;
  readonly status?: DeliveryStatusColumn;
}

const deliveryLoaders = createContextCache((_ctx: Context) => new Map<string, DataLoader<string, WebhookDelivery[]>>());

/** Each subscription's page of deliveries (newest first), one query for every subscription on the page. */
export function deliveriesLoader(ctx: Context, page: DeliveryPage): DataLoader<string, WebhookDelivery[]> {
  const key = JSON.stringify([page.limit, page.afterMessageId ?? null, page.status ?? null]);
  const loaders = deliveryLoaders(ctx);
  let loader = loaders.get(key);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const found = await ctx.services.webhooks.findDeliveries(ctx.services.db, ids, page);
      return ids.map((id) => found.get(id) ?? []);
    });
    loaders.set(key, loader);
  }
  return loader;
}

/** The attempt log of each delivery, oldest first, one query for every delivery on the page. */
export const attemptsLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<{ subscriptionId: string; messageId: string }, WebhookAttempt[], string>(
      async (keys) => {
        const found = await ctx.services.webhooks.findAttempts(ctx.services.db, keys);
        return keys.map((k) => found.get(deliveryKey(k.subscriptionId, k.messageId)) ?? []);
      },
      { cacheKeyFn: (k) => deliveryKey(k.subscriptionId, k.messageId) },
    ),
);
