import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { connectionRef } from '../graphql/connection.js';
import { UserRef } from '../identity/user.schema.js';
import { accessLogLoader } from './audit.loaders.js';
import { AUDIT_ACTIONS } from './audit.actions.js';
import { findAuditEvents, type AuditEvent } from './audit.service.js';

const DecisionEnum = builder.enumType('Decision', { values: ['ALLOW', 'DENY'] as const });

const ActorRef = builder.objectRef<AuditEvent['actor']>('AuditActor').implement({
  description: 'Who acted: a user, an agent acting for one (delegated), a client acting as itself, anonymous, or the hub (system).',
  fields: (t) => ({ kind: t.exposeString('kind'), id: t.exposeString('id', { nullable: true }) }),
});

const AuditEventRef = builder.objectRef<AuditEvent>('AuditEvent').implement({
  description: 'One entry of the append-only, hash-chained audit trail.',
  fields: (t) => ({
    id: t.exposeID('id'),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
    action: t.exposeString('action', { description: `One of ${AUDIT_ACTIONS.join(', ')}.` }),
    actor: t.field({ type: ActorRef, resolve: (e) => e.actor }),
    actorChain: t.exposeStringList('actorChain', { description: 'The acting agents, nearest first.' }),
    subjectUserId: t.exposeID('subjectUserId', { nullable: true }),
    clientId: t.exposeString('clientId', { nullable: true }),
    purpose: t.exposeString('purpose', { nullable: true }),
    consentId: t.exposeID('consentId', { nullable: true }),
    fieldsRead: t.exposeStringList('fieldsRead'),
    fieldsDenied: t.exposeStringList('fieldsDenied'),
    decision: t.field({ type: DecisionEnum, resolve: (e) => e.decision }),
    reason: t.exposeString('reason', { nullable: true }),
    requestId: t.exposeString('requestId', { nullable: true }),
  }),
});

const AuditEventConnectionRef = connectionRef('AuditEvent', AuditEventRef);

const AuditFilterInput = builder.inputType('AuditFilter', {
  fields: (t) => ({
    userId: t.id(),
    agentId: t.id({ description: 'Events where this agent acted, directly or anywhere in the chain.' }),
    action: t.string({ description: 'One of the actions AuditEvent.action lists.' }),
    decision: t.field({ type: DecisionEnum }),
    from: t.field({ type: 'DateTime', description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive; later than from.' }),
  }),
});

builder.queryField('auditEvents', (t) =>
  t.field({
    type: AuditEventConnectionRef,
    description: 'The audit trail, newest first: for audit:read.',
    args: { first: t.arg.int(), after: t.arg.string(), filter: t.arg({ type: AuditFilterInput }) },
    authScopes: { operator: 'audit:read' },
    resolve: async (_root, args, ctx) => {
      const page = await findAuditEvents(ctx.services.db, {
        first: args.first ?? undefined,
        after: args.after ?? undefined,
        filter: { ...args.filter, userId: args.filter?.userId?.toString(), agentId: args.filter?.agentId?.toString() },
      });
      for (const { node } of page.edges) noteShownEvent(ctx, node);
      return page;
    },
  }),
);

/**
 * An event shown is a read of the person it is about (their `accessLog`, as the field and their
 * export name it) and of a person who did it about someone else or no one (their `actions`), into
 * the request's `profile.read` event about each: a refused read of someone's access log is in
 * their trail, so a read of it through the whole trail must be too.
 */
function noteShownEvent(ctx: Context, event: AuditEvent): void {
  if (event.subjectUserId) ctx.access.note(event.subjectUserId, 'accessLog');
  if (event.actor.kind === 'user' && event.actor.id && event.actor.id !== event.subjectUserId) ctx.access.note(event.actor.id, 'actions');
}

builder.objectField(UserRef, 'accessLog', (t) =>
  t.field({
    type: AuditEventConnectionRef,
    nullable: true,
    description: 'Who read or changed this user’s data, when, acting for whom and for which purpose: newest first, for the user themself.',
    args: { first: t.arg.int(), after: t.arg.string() },
    authScopes: (user) => ({ self: { userId: user.id, field: 'accessLog' } }),
    resolve: (user, args, ctx) => accessLogLoader(ctx).load({ userId: user.id, first: args.first ?? null, after: args.after ?? null }),
  }),
);
