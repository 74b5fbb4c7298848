import { agentListScope } from '../authz/agent-access.js';
import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import type { Context } from '../graphql/context.js';
import { userLoader } from '../identity/user.loaders.js';
import { UserRef } from '../identity/user.schema.js';
import { decodeCursor, encodeCursor, pageSize, toConnection } from '../shared/pagination.js';
import { AGENT_KINDS } from './agent.input.js';
import { agentLoader } from './agent.loaders.js';
import type { AgentCredentials } from './agent-credentials.js';
import type { Agent } from './agent.service.js';
import { agentState } from './agent-authentication.js';

const AgentKindEnum = builder.enumType('AgentKind', { values: Object.keys(AGENT_KINDS) as (keyof typeof AGENT_KINDS)[] });
const kindName = (kind: Agent['kind']) => (Object.keys(AGENT_KINDS) as (keyof typeof AGENT_KINDS)[]).find((name) => AGENT_KINDS[name] === kind)!;

const AgentStatusEnum = builder.enumType('AgentStatus', {
  description: 'EXPIRED: past its expiresAt, whatever else it is, unless decommissioned.',
  values: ['ACTIVE', 'SUSPENDED', 'DECOMMISSIONED', 'EXPIRED'] as const,
});

const AgentOwnerKindEnum = builder.enumType('AgentOwnerKind', { values: ['OPERATOR', 'USER'] as const });

export const AgentRef = builder.objectRef<Agent>('Agent');

AgentRef.implement({
  description: 'A non-human identity (an AI agent, a service, a bot) with its own OAuth client id and secret.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Also its OAuth client_id.' }),
    name: t.exposeString('name'),
    kind: t.field({ type: AgentKindEnum, resolve: (agent) => kindName(agent.kind) }),
    description: t.exposeString('description', { nullable: true }),
    status: t.field({ type: AgentStatusEnum, resolve: (agent, _args, ctx) => agentState(agent, ctx.services.clock.now()) }),
    allowedScopes: t.exposeStringList('allowedScopes', { description: 'The ceiling of every token the agent can ever get.' }),
    ownerKind: t.field({ type: AgentOwnerKindEnum, resolve: (agent) => (agent.ownerKind === 'user' ? 'USER' : 'OPERATOR') }),
    owner: t.field({
      type: UserRef,
      nullable: true,
      description: 'The user who connected the agent; null for an agent the operators own. For agents:admin and that user only.',
      authScopes: (agent) => (agent.ownerUserId ? { agentOwner: { agentId: agent.id, ownerUserId: agent.ownerUserId } } : true),
      resolve: (agent, _args, ctx) => (agent.ownerUserId ? userLoader(ctx).load(agent.ownerUserId) : null),
    }),
    parent: t.field({
      type: AgentRef,
      nullable: true,
      description: 'The agent this one is a sub-agent of; its ceiling lies within the parent’s.',
      authScopes: (agent) => (agent.parentAgentId ? { agentManager: agent.parentAgentId } : true),
      resolve: (agent, _args, ctx) => (agent.parentAgentId ? agentLoader(ctx).load(agent.parentAgentId) : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'When it last authenticated, to the minute.' }),
  }),
});

const AgentCredentialsRef = builder.objectRef<AgentCredentials>('AgentCredentials').implement({
  description: 'An agent with a new secret. The secret is shown here once and stored only as a hash.',
  fields: (t) => ({
    agent: t.field({ type: AgentRef, resolve: (c) => c.agent }),
    clientId: t.string({ resolve: (c) => c.agent.id }),
    clientSecret: t.exposeString('clientSecret', { description: 'Use it with client_secret_basic or client_secret_post at /oauth/token.' }),
  }),
});

const AgentConnectionRef = connectionRef('Agent', AgentRef);

const RegisterAgentInput = builder.inputType('RegisterAgentInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    kind: t.field({ type: AgentKindEnum, required: true }),
    allowedScopes: t.stringList({ required: true, description: 'Data scopes, operator scopes (not for an agent a user owns) and offline_access.' }),
    description: t.string(),
    ownerUserId: t.id({ description: 'The user who owns it; a user registering an agent owns it.' }),
    parentAgentId: t.id({ description: 'Makes it a sub-agent; its allowedScopes must lie within the parent’s.' }),
    expiresAt: t.field({ type: 'DateTime' }),
  }),
});

const AgentFilter = builder.inputType('AgentFilter', {
  fields: (t) => ({
    status: t.field({ type: AgentStatusEnum }),
    kind: t.field({ type: AgentKindEnum }),
    ownerUserId: t.id(),
    parentAgentId: t.id(),
  }),
});

builder.queryFields((t) => ({
  agent: t.field({
    type: AgentRef,
    nullable: true,
    description: 'An agent by id: for agents:admin, or the user who owns it.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ agentManager: String(args.id) }),
    resolve: (_root, args, ctx) => agentLoader(ctx).load(String(args.id)),
  }),
  agents: t.field({
    type: AgentConnectionRef,
    description: 'Agents, oldest first: every agent for agents:admin, a user’s own for that user.',
    args: { first: t.arg.int(), after: t.arg.string(), filter: t.arg({ type: AgentFilter }) },
    authScopes: { $any: { operator: 'agents:admin', signedInUser: true } },
    resolve: async (_root, args, ctx) => {
      const scope = agentListScope(ctx.principal);
      const limit = pageSize(args.first);
      if (!scope) return toConnection([], limit, () => '', (a: Agent) => a);
      const key = args.after ? decodeCursor(args.after, ['date', 'string'], 'agents') : undefined;
      const after = key && { createdAt: key[0], id: key[1] };
      const { status, kind, ownerUserId, parentAgentId } = args.filter ?? {};
      const filter = {
        status,
        kind: kind ? AGENT_KINDS[kind] : null,
        ownerUserId: 'ownerUserId' in scope ? scope.ownerUserId : ownerUserId?.toString(),
        parentAgentId: parentAgentId?.toString(),
      };
      const rows = await ctx.services.agents.list(ctx.services.db, { limit: limit + 1, ...(after && { after }), filter });
      for (const agent of rows) agentLoader(ctx).prime(agent.id, agent);
      // An operator's list of one person's agents tells whose they are as surely as `owner` shows
      // it (with `first: 0`, whether they own any): their id read, in their trail, as `owner` notes it.
      if ('all' in scope && filter.ownerUserId && rows.length > 0) ctx.access.note(filter.ownerUserId, 'id');
      return toConnection(rows, limit, (a) => encodeCursor([a.createdAt.toISOString(), a.id], 'agents'), (a) => a);
    },
  }),
}));

const caller = (ctx: Context) => ({ principal: ctx.principal, requestId: ctx.requestId });

/** The agent as a mutation left it, replacing any earlier load in this request. */
function fresh<T extends AgentCredentials | Agent>(ctx: Context, result: T): T {
  const agent = 'clientSecret' in result ? (result as AgentCredentials).agent : (result as Agent);
  agentLoader(ctx).clear(agent.id).prime(agent.id, agent);
  return result;
}

builder.mutationFields((t) => ({
  registerAgent: t.field({
    type: AgentCredentialsRef,
    description: 'Registers an agent: for agents:admin, or a user for an agent they own, with a session that holds every scope a sign-in grants and a sign-in in the last 10 minutes (UNAUTHENTICATED otherwise: sign in again). The secret is shown once.',
    args: { input: t.arg({ type: RegisterAgentInput, required: true }) },
    authScopes: (_root, args) => ({ agentRegistrar: { ownerUserId: args.input.ownerUserId?.toString(), parentAgentId: args.input.parentAgentId?.toString() } }),
    resolve: async (_root, { input }, ctx) =>
      fresh(ctx, await ctx.services.agents.register({ ...input, ownerUserId: input.ownerUserId?.toString(), parentAgentId: input.parentAgentId?.toString() }, caller(ctx))),
  }),
  rotateAgentSecret: t.field({
    type: AgentCredentialsRef,
    description: 'A new secret. The one it replaces keeps working for gracePeriodSeconds (default 0, at most 30 days), then stops; an older one still in a grace period stops at once. Its owner needs a sign-in in the last 10 minutes, as for registerAgent (UNAUTHENTICATED otherwise: sign in again).',
    args: { id: t.arg.id({ required: true }), gracePeriodSeconds: t.arg.int() },
    authScopes: (_root, args) => ({ agentSecretRotator: String(args.id) }),
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.agents.rotateSecret(String(args.id), args.gracePeriodSeconds, caller(ctx))),
  }),
  suspendAgent: t.field({
    type: AgentRef,
    description: 'Stops the agent until reactivated: its tokens are refused from the next request on.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ agentChanger: String(args.id) }),
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.agents.suspend(String(args.id), caller(ctx))),
  }),
  reactivateAgent: t.field({
    type: AgentRef,
    description: 'Lifts a suspension. Its owner needs a sign-in in the last 10 minutes for an agent whose allowed scopes hold offline_access, as for rotateAgentSecret (UNAUTHENTICATED otherwise: sign in again).',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ agentReactivator: String(args.id) }),
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.agents.reactivate(String(args.id), caller(ctx))),
  }),
  decommissionAgent: t.field({
    type: AgentRef,
    description: 'Ends the agent for good: every consent naming it is withdrawn and every token it holds or acts in stops working.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ agentChanger: String(args.id) }),
    resolve: async (_root, args, ctx) => fresh(ctx, await ctx.services.agents.decommission(String(args.id), caller(ctx))),
  }),
}));
