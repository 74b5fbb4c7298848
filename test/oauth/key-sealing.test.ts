import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { open, seal } from '../../src/oauth/key-encryption.js';
import { openWebhookSecret, sealWebhookSecret } from '../../src/webhooks/webhook-secret.js';

const kek = randomBytes(32);

/** iv ‖ tag ‖ ciphertext as `seal` lays it out, but with a tag of `tagBytes`. */
function sealWithTag(tagBytes: number, plaintext: Buffer, context: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: tagBytes });
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

describe('values sealed with the key-encryption key', () => {
  it('open with the key and context they were sealed with, and with no other context', () => {
    const sealed = seal(kek, Buffer.from('private key'), 'kid-1');
    expect(open(kek, sealed, 'kid-1').toString()).toBe('private key');
    expect(() => open(kek, sealed, 'kid-2')).toThrow('cannot be decrypted');
    const secret = sealWebhookSecret(kek, 'whk_a', 'whsec_x');
    expect(openWebhookSecret(kek, 'whk_a', secret)).toBe('whsec_x');
    expect(() => openWebhookSecret(kek, 'whk_b', secret)).toThrow('the secret of webhook subscription whk_b cannot be decrypted');
  });

  // A GCM tag cut short is forged with far fewer tries (2^32 for 4 bytes, and fewer still with
  // each forgery that succeeds: NIST SP 800-38D Appendix C): only the full 16 bytes seal ever
  // writes may open.
  it.each([4, 8, 12, 15])('refuse a value whose authentication tag is %i bytes, not 16', (tagBytes) => {
    const short = sealWithTag(tagBytes, Buffer.from(''), 'kid-1');
    expect(() => open(kek, short, 'kid-1')).toThrow('cannot be decrypted');
    const shortWithBody = sealWithTag(tagBytes, Buffer.from('0123456789abcdef'), 'kid-1');
    expect(() => open(kek, shortWithBody, 'kid-1')).toThrow('cannot be decrypted');
  });

  it('refuse a value too short to hold an iv and a tag, as any other that does not open', () => {
    for (const length of [0, 11, 12, 27]) expect(() => open(kek, Buffer.alloc(length, 1), 'kid-1')).toThrow('cannot be decrypted');
  });
});
