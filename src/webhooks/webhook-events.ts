/**
 * Every event type a subscription can ask for. Names follow `<resource>.<past tense>` as the
 * audit actions do; new types are added here, never renamed, since receivers switch on them.
 */
export const WEBHOOK_EVENT_TYPES = [
  'consent.given',
  'consent.withdrawn',
  'agent.registered',
  'agent.suspended',
  'agent.reactivated',
  'agent.decommissioned',
  'token.revoked',
  'user.suspended',
  'user.reactivated',
  'user.password_changed',
  'user.erased',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * The events that tell a receiver of an end (a consent withdrawn, an agent decommissioned, a token
 * revoked, a person erased): still sent about a person once they are erased, as the erasure's own.
 */
export const ENDING_EVENT_TYPES: readonly WebhookEventType[] = ['consent.withdrawn', 'agent.decommissioned', 'token.revoked', 'user.erased'];

/** A JSON value: what an event's data may hold. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * What a message's `data` tells of the person it is about (`personOfMessage`), named as that
 * person's own data is (their export's sections, the fields of their `profile.read` events): a
 * consent's purpose, agent, scopes and expiry are their `consents`; a revoked token or the
 * sessions a password change ended, their `sessions`; a suspension, reactivation or erasure, their
 * `status`; an agent's owner, their `id`, as `Agent.owner` shown to someone else records it.
 */
const PERSONAL_DATA_OF_EVENT = {
  'consent.given': 'consents',
  'consent.withdrawn': 'consents',
  'agent.registered': 'id',
  'agent.suspended': 'id',
  'agent.reactivated': 'id',
  'agent.decommissioned': 'id',
  'token.revoked': 'sessions',
  'user.suspended': 'status',
  'user.reactivated': 'status',
  'user.password_changed': 'sessions',
  'user.erased': 'status',
} as const satisfies Record<WebhookEventType, string>;

/**
 * The person a message's body is about, as its data names them (`userId`, or an agent's
 * `ownerUserId`), with what it tells of them; undefined for a message about no person (an
 * operator's agent). Never throws for a body the hub wrote.
 */
export function personOfMessage(eventType: string, body: string): { userId: string; field: string } | undefined {
  if (!isWebhookEventType(eventType)) return undefined;
  const data = (JSON.parse(body) as { data?: { userId?: unknown; ownerUserId?: unknown } }).data;
  const userId = data?.userId ?? data?.ownerUserId;
  return typeof userId === 'string' && userId.startsWith('usr_') ? { userId, field: PERSONAL_DATA_OF_EVENT[eventType] } : undefined;
}

/**
 * An event as a producer states it. `data` carries ids, types and the facts of the change (a
 * consent's purpose, scopes and expiry, a revocation's reason, a count of sessions), never a
 * profile's values: it leaves the hub, and receivers that need more ask the API, which decides per
 * field. What it tells is still the person's data under their id (`PERSONAL_DATA_OF_EVENT`).
 */
export interface WebhookEvent {
  readonly type: WebhookEventType;
  readonly data: { readonly [key: string]: JsonValue };
}

/** Largest body of one message; events carry ids, so anything near this is a programming error. */
const MAX_MESSAGE_BYTES = 16 * 1024;

function isWebhookEventType(type: string): type is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * The body receivers get, as the Standard Webhooks spec lays it out: `type`, `timestamp` (when
 * the event happened) and `data`.
 * @throws TypeError for an unknown type or a body over MAX_MESSAGE_BYTES (programmer misuse).
 */
export function messageBody(event: WebhookEvent, occurredAt: Date): string {
  if (!isWebhookEventType(event.type)) throw new TypeError(`unknown webhook event type ${String(event.type)}`);
  const body = JSON.stringify({ type: event.type, timestamp: occurredAt.toISOString(), data: event.data });
  if (Buffer.byteLength(body) > MAX_MESSAGE_BYTES) throw new TypeError(`webhook event ${event.type} is over ${MAX_MESSAGE_BYTES} bytes`);
  return body;
}
