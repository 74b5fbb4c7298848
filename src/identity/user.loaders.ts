import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { Context } from '../graphql/context.js';
import { countOrders, findOrderPages, findPaymentMethods, type Order, type OrderKey, type PaymentMethod } from './order.queries.js';
import { findUsersByIds, type User } from './user.queries.js';

/** Users by id, one query per request tick; erased users load as null. */
export const userLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, User | null>(async (ids) => {
      const users = new Map((await findUsersByIds(ctx.services.db, ids)).map((u) => [u.id, u]));
      return ids.map((id) => users.get(id) ?? null);
    }),
);

/**
 * A page of orders per user; one loader per page shape, so `users { orders(first: 10) }`
 * costs one statement for the whole list.
 */
export const orderPageLoader = createContextCache((ctx: Context) => {
  const byShape = new Map<string, DataLoader<string, Order[]>>();
  return (limit: number, after: OrderKey | undefined): DataLoader<string, Order[]> => {
    const shape = `${limit}|${after?.placedAt.toISOString() ?? ''}|${after?.id ?? ''}`;
    let loader = byShape.get(shape);
    if (!loader) {
      loader = new DataLoader(async (userIds) => {
        const pages = await findOrderPages(ctx.services.db, userIds, limit, after);
        return userIds.map((id) => pages.get(id) ?? []);
      });
      byShape.set(shape, loader);
    }
    return loader;
  };
});

export const orderCountLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, number>(async (userIds) => {
      const counts = await countOrders(ctx.services.db, userIds);
      return userIds.map((id) => counts.get(id) ?? 0);
    }),
);

export const paymentMethodsLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, PaymentMethod[]>(async (userIds) => {
      const methods = await findPaymentMethods(ctx.services.db, userIds);
      return userIds.map((id) => methods.get(id) ?? []);
    }),
);
