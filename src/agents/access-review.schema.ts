import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import type { Context } from '../graphql/context.js';
import type { Agent } from './agent.queries.js';
import { agentLoader } from './agent.loaders.js';
import { AgentRef } from './agent.schema.js';
import {
  countFindings,
  findingsPage,
  FINDING_KINDS,
  MAX_REVIEWED_AGENTS,
  registerPage,
  reviewAccess,
  type AccessFinding,
  type AccessReview,
  type AccessReviewEntry,
} from './access-review.service.js';

const DAY_MS = 86_400_000;

const AccessFindingKindEnum = builder.enumType('AccessFindingKind', {
  description: 'What an access review looks for, most urgent first.',
  values: {
    CONSENT_TO_INACTIVE_AGENT: { description: 'Consents in force name an agent that is suspended, decommissioned or expired, or whose ancestor is.' },
    CREDENTIAL_PAST_ROTATION: { description: 'A client secret still valid is as old as the rotation age, or older.' },
    OVER_PRIVILEGED: { description: 'Data scopes granted (ceiling or consents) that the agent did not use in the window.' },
    UNUSED: { description: 'Not used for the whole window (never, or last used before it).' },
    EXPIRING_SOON: { description: 'Its expiry falls within the coming days asked for.' },
  } satisfies Record<(typeof FINDING_KINDS)[number], { description: string }>,
});

/** The agents of a page, known already: later loads of them in this request cost no query. */
function prime(ctx: Context, agents: readonly Agent[]): void {
  for (const agent of agents) agentLoader(ctx).prime(agent.id, agent);
}

const AccessFindingRef = builder.objectRef<AccessFinding>('AccessFinding').implement({
  description: 'One thing an access review found about one agent, and why.',
  fields: (t) => ({
    kind: t.field({ type: AccessFindingKindEnum, resolve: (f) => f.kind }),
    agent: t.field({ type: AgentRef, resolve: (f) => f.agent }),
    reason: t.exposeString('reason'),
    scopes: t.exposeStringList('scopes', { description: 'OVER_PRIVILEGED: the data scopes granted and not used in the window; empty otherwise.' }),
    consentCount: t.exposeInt('consentCount', { description: 'CONSENT_TO_INACTIVE_AGENT: the consents in force naming the agent (see Agent.consents); 0 otherwise.' }),
    at: t.expose('at', { type: 'DateTime', nullable: true, description: 'The date behind it: last use, the secret’s creation or the expiry.' }),
  }),
});

const AccessFindingCountRef = builder.objectRef<{ kind: AccessFinding['kind']; count: number }>('AccessFindingCount').implement({
  fields: (t) => ({ kind: t.field({ type: AccessFindingKindEnum, resolve: (c) => c.kind }), count: t.exposeInt('count') }),
});

const AccessReviewEntryRef = builder.objectRef<AccessReviewEntry>('AccessReviewEntry').implement({
  description: 'One agent of the register: owner, ceiling, status and expiry on `agent`; what it did and holds here.',
  fields: (t) => ({
    agent: t.field({ type: AgentRef, resolve: (e) => e.facts.agent }),
    lastActiveAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'The later of its last authentication and its last audited read or change within the window.',
      resolve: (e) => e.facts.lastActiveAt,
    }),
    credentialCreatedAt: t.field({ type: 'DateTime', nullable: true, description: 'When its oldest client secret still valid was made.', resolve: (e) => e.facts.oldestSecretAt }),
    credentialAgeDays: t.int({
      nullable: true,
      description: 'Whole days since credentialCreatedAt.',
      resolve: (e, _args, ctx) => (e.facts.oldestSecretAt ? Math.floor((ctx.services.clock.now().getTime() - e.facts.oldestSecretAt.getTime()) / DAY_MS) : null),
    }),
    liveConsentCount: t.int({ description: 'Consents in force naming the agent; list them with agent.consents(live: true).', resolve: (e) => e.facts.liveConsents }),
    consentScopes: t.stringList({ description: 'Every scope the consents in force grant it.', resolve: (e) => e.facts.consentScopes }),
    fieldsRead: t.stringList({ description: 'Profile fields it read in the window, itself or in an acting chain, and as a client the audience member fields it was shown or filtered on and the fields of the people it exported.', resolve: (e) => e.facts.fieldsRead }),
    usedScopes: t.exposeStringList('usedScopes', { description: 'Data scopes granted and used in the window.' }),
    unusedScopes: t.exposeStringList('unusedScopes', { description: 'Data scopes granted and not used in the window.' }),
    findings: t.field({ type: [AccessFindingKindEnum], resolve: (e) => e.findings }),
  }),
});

const AccessReviewEntryConnectionRef = connectionRef<AccessReviewEntry, { total: number }>('AccessReviewEntry', AccessReviewEntryRef);
builder.objectField(AccessReviewEntryConnectionRef, 'totalCount', (t) => t.int({ resolve: (c) => c.total }));

const AccessFindingConnectionRef = connectionRef<AccessFinding, { total: number }>('AccessFinding', AccessFindingRef);
builder.objectField(AccessFindingConnectionRef, 'totalCount', (t) => t.int({ description: 'Findings of the kind asked for (all kinds when none).', resolve: (c) => c.total }));

const AccessReviewRef = builder.objectRef<AccessReview>('AccessReview').implement({
  description: `The register of every agent and what an access review finds in it, as of generatedAt. Covers up to ${MAX_REVIEWED_AGENTS} agents (see complete).`,
  fields: (t) => ({
    generatedAt: t.expose('generatedAt', { type: 'DateTime' }),
    windowStart: t.expose('windowStart', { type: 'DateTime', description: 'Use is judged from here to generatedAt.' }),
    unusedForDays: t.int({ resolve: (r) => r.options.unusedForDays }),
    rotationAgeDays: t.int({ resolve: (r) => r.options.rotationAgeDays }),
    expiringWithinDays: t.int({ resolve: (r) => r.options.expiringWithinDays }),
    complete: t.exposeBoolean('complete', { description: `False when the hub has more than ${MAX_REVIEWED_AGENTS} agents: the oldest ones were reviewed.` }),
    agentCount: t.int({ resolve: (r) => r.entries.length }),
    summary: t.field({
      type: [AccessFindingCountRef],
      description: 'How many findings of each kind, most urgent first.',
      resolve: (r) => Object.entries(countFindings(r.findings)).map(([kind, count]) => ({ kind: kind as AccessFinding['kind'], count })),
    }),
    register: t.field({
      type: AccessReviewEntryConnectionRef,
      description: 'Every agent, in registration order, a page at a time (first at most 100).',
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: (r, args, ctx) => {
        const page = registerPage(r, args.first, args.after);
        prime(ctx, page.edges.map((e) => e.node.facts.agent));
        return { ...page, total: r.entries.length };
      },
    }),
    findings: t.field({
      type: AccessFindingConnectionRef,
      description: 'The findings, most urgent kind first, then in registration order, a page at a time (first at most 100).',
      args: { kind: t.arg({ type: AccessFindingKindEnum }), first: t.arg.int(), after: t.arg.string() },
      resolve: (r, args, ctx) => {
        const page = findingsPage(r, args);
        prime(ctx, page.edges.map((e) => e.node.agent));
        return { ...page, total: args.kind ? r.findings.filter((f) => f.kind === args.kind).length : r.findings.length };
      },
    }),
  }),
});

builder.queryField('accessReview', (t) =>
  t.field({
    type: AccessReviewRef,
    description:
      'An access review of every agent: the register (owner, ceiling, status, last use, credential age, expiry, consents in force) and its findings. agents:admin.',
    args: {
      unusedForDays: t.arg.int({ description: 'Unused for this many days is a finding; also the window of scope use. 1 to 365, default 90.' }),
      rotationAgeDays: t.arg.int({ description: 'A client secret this many days old or older is a finding. 1 to 3650, default 90.' }),
      expiringWithinDays: t.arg.int({ description: 'An expiry within this many days is a finding. 1 to 365, default 14.' }),
    },
    authScopes: { operator: 'agents:admin' },
    resolve: (_root, args, ctx) =>
      reviewAccess({ db: ctx.services.db, clock: ctx.services.clock, audit: ctx.services.audit }, { principal: ctx.principal, requestId: ctx.requestId }, args),
  }),
);
