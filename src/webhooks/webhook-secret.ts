import { randomBytes } from 'node:crypto';
import { open, seal } from '../oauth/key-encryption.js';

/** The prefix of Standard Webhooks secrets; what follows is the base64 of the key. */
const SECRET_PREFIX = 'whsec_';

/** Bytes of a new secret: 256 bits, within the 24 to 64 the Standard Webhooks spec asks for. */
const SECRET_BYTES = 32;

/** A new `whsec_` secret; shown to the operator once, then kept only sealed. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/**
 * The secret sealed with the key-encryption key, bound to its subscription: unlike a client
 * secret it cannot be kept as a hash, since every delivery signs with it.
 */
export function sealWebhookSecret(kek: Buffer, subscriptionId: string, secret: string): Buffer {
  return seal(kek, Buffer.from(secret), context(subscriptionId));
}

/** @throws Error when the key-encryption key is not the one the secret was sealed with. */
export function openWebhookSecret(kek: Buffer, subscriptionId: string, sealed: Uint8Array): string {
  return open(kek, Buffer.from(sealed), context(subscriptionId), `the secret of webhook subscription ${subscriptionId}`).toString();
}

const context = (subscriptionId: string) => `webhook:${subscriptionId}`;
