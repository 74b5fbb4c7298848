import { Webhook } from 'standardwebhooks';

/** Identifies the hub to receivers, which may filter on it. */
const USER_AGENT = 'identity-consent-hub-webhooks/1';

/**
 * The headers of one attempt per the Standard Webhooks spec: `webhook-id` (the message id, the
 * same on every attempt, so receivers drop duplicates by it), `webhook-timestamp` (this attempt,
 * in seconds) and `webhook-signature`, one `v1,<base64 HMAC-SHA256>` per secret, space-separated:
 * during a rotation's grace period both the new and the old secret sign, so a receiver still on
 * the old one keeps verifying. Signing is the `standardwebhooks` package's.
 * @param secrets `whsec_` secrets, the current one first.
 */
export function signedHeaders(messageId: string, timestamp: Date, body: string, secrets: readonly string[]): Record<string, string> {
  const signatures = secrets.map((secret) => new Webhook(secret).sign(messageId, timestamp, body));
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1_000)),
    'webhook-signature': signatures.join(' '),
  };
}
