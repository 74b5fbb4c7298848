import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { agentLoader } from '../agents/agent.loaders.js';
import { AgentRef } from '../agents/agent.schema.js';
import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { UserRef } from '../identity/user.schema.js';
import type { Consent } from './consent.queries.js';
import { ConsentRef, PurposeRef } from './consent.schema.js';
import { consentState } from './consent.service.js';
import { purposeLoader } from './purposes.js';

/** Every consent of each user, newest first: one query per request tick. */
const consentsOfUserLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, Consent[]>(async (userIds) => {
      const all = await ctx.services.consents.findConsentsOfUsers(ctx.services.db, userIds);
      return userIds.map((id) => all.filter((c) => c.userId === id));
    }),
);

/** An agent the user has a consent in force with: what it may read, for which purpose, since when. */
const ConnectedAgentRef = builder.objectRef<Consent>('ConnectedAgent').implement({
  description: 'An agent acting for the user under a consent in force; withdraw the consent to disconnect it.',
  fields: (t) => ({
    agent: t.field({ type: AgentRef, nullable: true, resolve: (c, _args, ctx) => agentLoader(ctx).load(c.agentId!) }),
    consent: t.field({ type: ConsentRef, resolve: (c) => c }),
    purpose: t.field({ type: PurposeRef, resolve: async (c, _args, ctx) => (await purposeLoader(ctx).load(c.purpose))! }),
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
    description: 'Every consent the user gave, newest first: for the user themself, or consents:admin.',
    authScopes: (user) => ({ userRecords: { userId: user.id, field: 'consents', operator: 'consents:admin' } }),
    resolve: (user, _args, ctx) => consentsOfUserLoader(ctx).load(user.id),
  }),
  connectedAgents: t.field({
    type: [ConnectedAgentRef],
    nullable: true,
    description: 'The agents with a consent in force: for the user themself, or consents:admin.',
    authScopes: (user) => ({ userRecords: { userId: user.id, field: 'connectedAgents', operator: 'consents:admin' } }),
    resolve: async (user, _args, ctx) => {
      const now = ctx.services.clock.now();
      return (await consentsOfUserLoader(ctx).load(user.id)).filter((c) => c.agentId !== null && consentState(c, now) === 'ACTIVE');
    },
  }),
}));
