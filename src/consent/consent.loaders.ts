import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { Context } from '../graphql/context.js';
import type { Consent } from './consent.service.js';

/** Consents by id, one query per request tick; unknown ids load as null. */
export const consentLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, Consent | null>(async (ids) => {
      const consents = new Map((await ctx.services.consents.findConsents(ctx.services.db, ids)).map((c) => [c.id, c]));
      return ids.map((id) => consents.get(id) ?? null);
    }),
);
