import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { Context } from '../graphql/context.js';
import type { Agent } from './agent.service.js';

/** Agents by id, one query per request tick; unknown ids load as null. */
export const agentLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, Agent | null>(async (ids) => {
      const agents = new Map((await ctx.services.agents.findAgents(ctx.services.db, ids)).map((a) => [a.id, a]));
      return ids.map((id) => agents.get(id) ?? null);
    }),
);
