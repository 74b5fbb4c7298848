import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { Context } from '../graphql/context.js';
import type { AuditEventPage } from './audit.queries.js';
import { findAuditEvents } from './audit.service.js';

/** One page of a user's access log: whose, and where it starts. */
export interface AccessLogPage {
  readonly userId: string;
  readonly first: number | null;
  readonly after: string | null;
}

/**
 * Pages of users' access logs, each read once per request however many rows of a query lead to
 * it (`consents { user { accessLog } }` shows the same page once per consent). A page refused (a
 * bad cursor) fails its own fields only, not the other pages of its batch.
 */
export const accessLogLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<AccessLogPage, AuditEventPage, string>(
      (pages) =>
        Promise.all(
          pages.map(({ userId, first, after }) =>
            findAuditEvents(ctx.services.db, { first: first ?? undefined, after: after ?? undefined, filter: { userId } }).catch((error: Error) => error),
          ),
        ),
      { cacheKeyFn: ({ userId, first, after }) => JSON.stringify([userId, first, after]) },
    ),
);
