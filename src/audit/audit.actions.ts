import type { Principal } from '../authz/principal.js';
import { newId } from '../shared/ids.js';
import { storableText } from '../shared/input.js';

/** Every kind of event the audit trail records. New actions are added here, never renamed. */
export const AUDIT_ACTIONS = [
  'user.signed_up',
  'user.signed_in',
  'user.sign_in_failed',
  'token.issued',
  'token.exchanged',
  'token.refused',
  'token.refreshed',
  'token.revoked',
  'profile.read',
  'profile.updated',
  'consent.given',
  'consent.withdrawn',
  'agent.registered',
  'agent.secret_rotated',
  'agent.suspended',
  'agent.reactivated',
  'agent.decommissioned',
  'agent.scopes_added',
  'approval.requested',
  'approval.answered',
  'approval.used',
  'payment.refused',
  'purpose.defined',
  'audience.queried',
  'audience.exported',
  'audience.deleted',
  'data.exported',
  'user.erased',
  'key.rotated',
  'access.reviewed',
  'webhook.created',
  'webhook.updated',
  'webhook.disabled',
  'webhook.deleted',
  'webhook.secret_rotated',
  'webhook.redelivered',
  'user.password_changed',
  'user.password_change_failed',
  'user.suspended',
  'user.reactivated',
  'consent.expired',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The kinds of caller of API.md, plus `system` for what the hub does by itself (key rotation, expiry). */
const ACTOR_KINDS = ['user', 'delegated', 'client', 'anonymous', 'system'] as const;

export type ActorKind = (typeof ACTOR_KINDS)[number];

/** As in API.md's `Decision`; stored in lower case. */
export type AuditDecision = 'ALLOW' | 'DENY';

/** Who acted. `id` is the user for `user`, the nearest agent for `delegated`, the client for `client`. */
export interface AuditActor {
  readonly kind: ActorKind;
  readonly id: string | null;
}

/** The hub itself, acting on no one's request: key rotation, webhook delivery, withdrawals it owes. */
export const SYSTEM_ACTOR: AuditActor = Object.freeze({ kind: 'system', id: null });

/** What a caller records. Omitted optional fields are stored as null (or an empty list). */
export interface AuditEventInput {
  readonly action: AuditAction;
  readonly actor: AuditActor;
  /** The acting agents, nearest first (the token's `act` chain). */
  readonly actorChain?: readonly string[];
  /** The user the event is about; it also names the hash chain the event joins (`hub` when null). */
  readonly subjectUserId?: string | null;
  readonly clientId?: string | null;
  readonly purpose?: string | null;
  readonly consentId?: string | null;
  /**
   * The user a delegated caller acts for, whose consent `consentId` and `purpose` name. An event
   * about anyone else names neither: they are that user's, not the subject's, and the subject's
   * access log and data export show their events whole (GDPR Art. 15(4)). Not stored.
   */
  readonly actingFor?: string | null;
  readonly fieldsRead?: readonly string[];
  readonly fieldsDenied?: readonly string[];
  /** Stated by every caller: an audit record never assumes that something was allowed. */
  readonly decision: AuditDecision;
  readonly reason?: string | null;
  readonly requestId?: string | null;
  /** Small, non-secret extra data; keys naming secrets are dropped (see `scrubDetail`). */
  readonly detail?: Readonly<Record<string, unknown>>;
  /** Set by `AuditWriter` so a retried batch keeps its ids; otherwise a new `evt_` id. */
  readonly id?: string;
  /** When it happened; defaults to the `now` of the append. */
  readonly occurredAt?: Date;
}

/** The parts of an event that follow from who is calling. */
export interface PrincipalAuditFields {
  readonly actor: AuditActor;
  readonly actorChain: readonly string[];
  readonly clientId: string | null;
  readonly purpose: string | null;
  readonly consentId: string | null;
  readonly actingFor?: string;
}

/** Maps the caller of a request to the actor fields of its audit events; spread into an input. */
export function actorFromPrincipal(principal: Principal): PrincipalAuditFields {
  const none = { actorChain: [], clientId: null, purpose: null, consentId: null };
  switch (principal.kind) {
    case 'anonymous':
      return { ...none, actor: { kind: 'anonymous', id: null } };
    case 'user':
      return { ...none, actor: { kind: 'user', id: principal.userId }, clientId: principal.clientId };
    case 'client':
      return { ...none, actor: { kind: 'client', id: principal.clientId }, clientId: principal.clientId };
    case 'delegated':
      return {
        actor: { kind: 'delegated', id: principal.actorChain[0] ?? principal.clientId },
        actorChain: principal.actorChain,
        clientId: principal.clientId,
        purpose: principal.purpose,
        consentId: principal.consentId,
        actingFor: principal.userId,
      };
  }
}

/** An input with every default applied, its detail scrubbed and its lists copied: ready to store. */
export type PreparedAuditEvent = {
  readonly [K in Exclude<keyof AuditEventInput, 'actingFor'>]-?: Exclude<AuditEventInput[K], undefined>;
} & { readonly detail: Record<string, unknown> };

/**
 * Checks an input and resolves it against `now`. Idempotent: preparing a prepared event changes
 * nothing, which keeps a buffered event's id and time through a retry.
 * @throws TypeError for an unknown action, actor kind or decision (programmer misuse).
 */
export function prepareAuditEvent(input: AuditEventInput, now: Date): PreparedAuditEvent {
  if (!(AUDIT_ACTIONS as readonly string[]).includes(input.action)) throw new TypeError(`unknown audit action ${String(input.action)}`);
  if (!(ACTOR_KINDS as readonly string[]).includes(input.actor?.kind)) throw new TypeError(`unknown actor kind ${String(input.actor?.kind)}`);
  if (input.decision !== 'ALLOW' && input.decision !== 'DENY') throw new TypeError(`unknown audit decision ${String(input.decision)}`);
  const occurredAt = new Date(input.occurredAt ?? now);
  if (Number.isNaN(occurredAt.getTime())) throw new TypeError('occurredAt is not a valid date');
  const othersConsent = input.actingFor != null && input.subjectUserId != null && input.subjectUserId !== input.actingFor;
  return Object.freeze({
    id: input.id ?? newId('evt'),
    occurredAt,
    action: input.action,
    actor: Object.freeze({ kind: input.actor.kind, id: text(input.actor.id) }),
    actorChain: Object.freeze((input.actorChain ?? []).map(storableText)),
    subjectUserId: text(input.subjectUserId),
    clientId: text(input.clientId),
    purpose: othersConsent ? null : text(input.purpose),
    consentId: othersConsent ? null : text(input.consentId),
    fieldsRead: Object.freeze((input.fieldsRead ?? []).map(storableText)),
    fieldsDenied: Object.freeze((input.fieldsDenied ?? []).map(storableText)),
    decision: input.decision,
    reason: text(input.reason),
    requestId: text(input.requestId),
    detail: scrubDetail(input.detail),
  });
}

/**
 * Text of an event, stored as it will read back: text the database would change or refuse would
 * break the event's hash or fail its batch.
 */
function text(value: string | null | undefined): string | null {
  return value == null ? null : storableText(value);
}

/** The chain of events about no user. User ids start with `usr_`, so none can take this key. */
export const HUB_CHAIN_KEY = 'hub';

/** The hash chain an event joins: its subject's, or the hub's own for events about no user. */
export function chainKeyOf(event: Pick<AuditEventInput, 'subjectUserId'>): string {
  return event.subjectUserId ?? HUB_CHAIN_KEY;
}

const SECRET_KEY = /password|secret|token|authorization|cookie/i;

/**
 * A deep copy of `detail` without any key that names a secret (password, secret, token,
 * authorization, cookie; any case, at any depth, inside arrays too), as plain JSON values: what
 * JSON cannot hold (undefined, functions) is dropped and dates become ISO strings. Values under
 * harmless keys are kept as they are, so a secret must never be put under one. Strings, keys
 * included, are made storable (see `storableText`): one the database refused would fail its batch.
 */
export function scrubDetail(detail: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  if (detail === undefined) return {};
  const plain: unknown = JSON.parse(JSON.stringify(detail) ?? '{}');
  const scrubbed = scrub(plain);
  return scrubbed !== null && typeof scrubbed === 'object' && !Array.isArray(scrubbed) ? (scrubbed as Record<string, unknown>) : {};
}

function scrub(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(scrub);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !SECRET_KEY.test(key))
      .map(([key, inner]) => [storableText(key), scrub(inner)]),
  );
}
