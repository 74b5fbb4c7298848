import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import type { LineItemJson } from '../db/database.js';
import type { Order, PaymentMethod } from './order.queries.js';

const OrderStatusEnum = builder.enumType('OrderStatus', {
  values: ['PENDING', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'REFUNDED'] as const,
});

const LineItemRef = builder.objectRef<LineItemJson>('LineItem').implement({
  fields: (t) => ({
    sku: t.exposeString('sku'),
    name: t.exposeString('name'),
    quantity: t.exposeInt('quantity'),
    unitPriceMinor: t.expose('unitPriceMinor', { type: 'SafeInt', description: 'Price of one unit in minor units of the order currency.' }),
  }),
});

const OrderRef = builder.objectRef<Order>('Order').implement({
  description: 'A first-party order: what the customer bought from the company.',
  fields: (t) => ({
    id: t.exposeID('id'),
    placedAt: t.expose('placedAt', { type: 'DateTime' }),
    totalMinor: t.expose('totalMinor', { type: 'SafeInt', description: 'Total in minor units of `currency` (cents for USD).' }),
    currency: t.exposeString('currency', { description: 'ISO 4217 code.' }),
    status: t.field({ type: OrderStatusEnum, resolve: (order) => order.status.toUpperCase() as never }),
    lineItems: t.field({ type: [LineItemRef], resolve: (order) => order.lineItems }),
  }),
});

export const OrderConnectionRef = connectionRef<Order, { userId: string }>('Order', OrderRef);

export const PaymentMethodRef = builder.objectRef<PaymentMethod>('PaymentMethod').implement({
  description: 'A stored payment method, masked: the hub never holds a full card number.',
  fields: (t) => ({
    id: t.exposeID('id'),
    brand: t.exposeString('brand'),
    last4: t.exposeString('last4'),
    expMonth: t.exposeInt('expMonth'),
    expYear: t.exposeInt('expYear'),
  }),
});
