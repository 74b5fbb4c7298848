import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { agentListScope } from '../authz/agent-access.js';
import { consentLoader } from '../consent/consent.loaders.js';
import type { Consent } from '../consent/consent.service.js';
import { ConsentRef } from '../consent/consent.schema.js';
import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import type { Context } from '../graphql/context.js';
import { decodeCursor, encodeCursor, pageSize, toConnection } from '../shared/pagination.js';
import { findConsentKeysOfAgents, type AgentConsentsPage, type ConsentKey } from './agent-consents.queries.js';
import { AgentRef } from './agent.schema.js';

// `Agent.consents` lives here rather than in agent.schema.ts: the Consent type refers to Agent,
// so defining this field beside Agent would make the two schema modules import each other.

/** A page as the loader groups it: by its JSON, which writes `after.givenAt` as its ISO string. */
type PageRequest = Omit<AgentConsentsPage, 'now'>;

/**
 * A page of the consents naming each agent: one statement per request tick for all the agents
 * asking for the same page, whatever their number.
 */
const consentKeysLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<{ agentId: string; page: PageRequest }, ConsentKey[], string>(
      async (keys) => {
        const groups = new Map<string, { page: PageRequest; agentIds: string[] }>();
        for (const { agentId, page } of keys) {
          const group = groups.get(JSON.stringify(page)) ?? { page, agentIds: [] };
          groups.set(JSON.stringify(page), group);
          group.agentIds.push(agentId);
        }
        const found = new Map<string, ConsentKey[]>();
        const now = ctx.services.clock.now();
        for (const [pageKey, { page, agentIds }] of groups) {
          const lists = await findConsentKeysOfAgents(ctx.services.db, agentIds, { ...page, now });
          agentIds.forEach((id, i) => found.set(`${id}\u0000${pageKey}`, lists[i]!));
        }
        return keys.map(({ agentId, page }) => found.get(`${agentId}\u0000${JSON.stringify(page)}`)!);
      },
      { cacheKeyFn: ({ agentId, page }) => `${agentId}\u0000${JSON.stringify(page)}`, maxBatchSize: 100 },
    ),
);

const AgentConsentConnectionRef = connectionRef<Consent>('AgentConsent', ConsentRef);

builder.objectField(AgentRef, 'consents', (t) =>
  t.field({
    type: AgentConsentConnectionRef,
    nullable: true,
    description:
      'The consents naming the agent, newest first (first at most 100): every one for agents:admin; for the user who owns the agent, those they gave it themself, since other people’s consents are theirs alone.',
    args: {
      live: t.arg.boolean({ description: 'true: only those in force now; false: only those withdrawn or expired; left out: all.' }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    authScopes: (agent) => ({ agentManager: agent.id }),
    resolve: async (agent, args, ctx) => {
      const limit = pageSize(args.first);
      const scope = agentListScope(ctx.principal);
      if (!scope) return toConnection([], limit, () => '', (c: Consent) => c);
      const key = args.after ? decodeCursor(args.after, ['date', 'string'], 'agentConsents') : undefined;
      const page: PageRequest = {
        limit: limit + 1,
        ...('ownerUserId' in scope && { givenBy: scope.ownerUserId }),
        ...(typeof args.live === 'boolean' && { live: args.live }),
        ...(key && { after: { givenAt: key[0], id: key[1] } }),
      };
      const keys = await consentKeysLoader(ctx).load({ agentId: agent.id, page });
      const consents = (await consentLoader(ctx).loadMany(keys.map((k) => k.id))).filter((c): c is Consent => c !== null && !(c instanceof Error));
      // Each consent listed is a read of its user's `consents`, into the request's `profile.read` event about that user.
      for (const consent of consents.slice(0, limit)) ctx.access.note(consent.userId, 'consents');
      return toConnection(consents, limit, (c) => encodeCursor([c.givenAt.toISOString(), c.id], 'agentConsents'), (c) => c);
    },
  }),
);
