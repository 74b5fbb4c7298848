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
 * An event as a producer states it. `data` carries ids and types only, never personal data
 * beyond ids: it leaves the hub, and receivers that need more ask the API, which decides per field.
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
