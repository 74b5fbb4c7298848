import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { agentLoader } from '../agents/agent.loaders.js';
import { AgentRef } from '../agents/agent.schema.js';
import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { UserRef } from '../identity/user.schema.js';
import { CONSENT_LIST, pageSize } from '../shared/pagination.js';
import type { Consent } from './consent.queries.js';
import { ConsentRef, PurposeRef } from './consent.schema.js';
import { consentedPurposeLoader } from './purposes.js';

/**
 * The newest `limit` consents of each user (only those to an agent in force when `connected`):
 * one query per request tick and shape.
 */
const consentsOfUserLoader = createContextCache((ctx: Context) => {
  const now = ctx.services.clock.now();
  const byShape = new Map<string, DataLoader<string, Consent[]>>();
  return (limit: number, connected: boolean): DataLoader<string, Consent[]> => {
    const shape = `${limit}|${connected}`;
    let loader = byShape.get(shape);
    if (!loader) {
      loader = new DataLoader(async (userIds) => {
        const all = await ctx.services.consents.findConsentsOfUsers(ctx.services.db, userIds, { limit, ...(connected && { connectedAt: now }) });
        return userIds.map((id) => all.filter((c) => c.userId === id));
      });
      byShape.set(shape, loader);
    }
    return loader;
  };
});

const FIRST = { description: `At most ${CONSENT_LIST.max}; ${CONSENT_LIST.default} when left out.` };

/** An agent the user has a consent in force with: what it may read, for which purpose, since when. */
const ConnectedAgentRef = builder.objectRef<Consent>('ConnectedAgent').implement({
  description: 'An agent acting for the user under a consent in force; withdraw the consent to disconnect it.',
  fields: (t) => ({
    agent: t.field({ type: AgentRef, nullable: true, resolve: (c, _args, ctx) => agentLoader(ctx).load(c.agentId!) }),
    consent: t.field({ type: ConsentRef, resolve: (c) => c }),
    purpose: t.field({ type: PurposeRef, description: 'The purpose in the version the consent was given under.', resolve: (c, _args, ctx) => consentedPurposeLoader(ctx)(c) }),
    scopes: t.exposeStringList('scopes', { description: 'What the agent may read.' }),
    since: t.expose('givenAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the agent last obtained or used a token.',
      resolve: async (c, _args, ctx) => (await agentLoader(ctx).load(c.agentId!))?.lastUsedAt ?? null,
    }),
  }),
});

// Each read of these lists, and each refusal, goes into the request's `profile.read` event about
// the user with the field's name, as a read of a profile field does (the `userRecords` scope).

builder.objectFields(UserRef, (t) => ({
  consents: t.field({
    type: [ConsentRef],
    nullable: true,
    description: 'The consents the user gave, newest first: for the user themself, or consents:admin.',
    args: { first: t.arg.int(FIRST) },
    authScopes: (user) => ({ userRecords: { userId: user.id, field: 'consents', operator: 'consents:admin' } }),
    resolve: (user, args, ctx) => consentsOfUserLoader(ctx)(pageSize(args.first, CONSENT_LIST), false).load(user.id),
  }),
  connectedAgents: t.field({
    type: [ConnectedAgentRef],
    nullable: true,
    description: 'The agents with a consent in force, newest consent first: for the user themself, or consents:admin.',
    args: { first: t.arg.int(FIRST) },
    authScopes: (user) => ({ userRecords: { userId: user.id, field: 'connectedAgents', operator: 'consents:admin' } }),
    resolve: (user, args, ctx) => consentsOfUserLoader(ctx)(pageSize(args.first, CONSENT_LIST), true).load(user.id),
  }),
}));
