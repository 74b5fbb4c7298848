import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { MAX_ATTEMPTS, nextAttemptAt, parseRetryAfter, RETRY_SCHEDULE_SECONDS } from '../../src/webhooks/retry-schedule.js';
import { generateWebhookSecret } from '../../src/webhooks/webhook-secret.js';
import { signedHeaders } from '../../src/webhooks/webhook-signature.js';

const now = new Date('2025-06-01T12:00:00.000Z');
const after = (at: Date | undefined) => (at!.getTime() - now.getTime()) / 1_000;

describe('the retry schedule', () => {
  it('is the one Svix documents: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    expect(RETRY_SCHEDULE_SECONDS).toEqual([0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]);
    expect(MAX_ATTEMPTS).toBe(8);
    expect([1, 2, 3, 4, 5, 6, 7].map((attempt) => after(nextAttemptAt(attempt, now, undefined, () => 0.5)))).toEqual([5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]);
    expect(nextAttemptAt(8, now, undefined)).toBeUndefined();
  });

  it('spreads each wait by up to 10 % either way', () => {
    expect(after(nextAttemptAt(2, now, undefined, () => 0))).toBe(270);
    expect(after(nextAttemptAt(2, now, undefined, () => 0.999999))).toBeCloseTo(330, 0);
  });

  it('waits longer when Retry-After asks for it, up to a day, and never less than the schedule', () => {
    expect(after(nextAttemptAt(1, now, 120, () => 0.5))).toBe(120);
    expect(after(nextAttemptAt(3, now, 10, () => 0.5))).toBe(1_800);
    expect(after(nextAttemptAt(1, now, 10 ** 9, () => 0.5))).toBe(86_400);
  });

  it('reads Retry-After as seconds or as an HTTP date, and ignores anything else', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:10:00 GMT', now)).toBe(600);
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Sunday, 01-Jun-25 12:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('Sun Jun  1 12:00:30 2025', now)).toBe(30);
    for (const bad of [undefined, '', '-5', '1.5', 'soon', 'x'.repeat(100)]) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });

  it('rounds the wait until a Retry-After date up to whole seconds, so no retry comes before that date', () => {
    const halfPast = new Date(now.getTime() + 500);
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:10:00 GMT', halfPast)).toBe(600);
    expect(after(nextAttemptAt(1, halfPast, parseRetryAfter('Sun, 01 Jun 2025 12:10:00 GMT', halfPast), () => 0.5))).toBeGreaterThanOrEqual(600);
  });
});

describe('signing', () => {
  it('makes whsec_ secrets of 256 bits, and headers the standardwebhooks package verifies with each secret', () => {
    const [first, second] = [generateWebhookSecret(), generateWebhookSecret()];
    expect(Buffer.from(first.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(first).not.toBe(second);
    const body = JSON.stringify({ type: 'consent.given', timestamp: new Date().toISOString(), data: { consentId: 'cns_1' } });
    const headers = signedHeaders('msg_01J00000000000000000000000', new Date(), body, [first, second]);
    expect(headers).toMatchObject({ 'webhook-id': 'msg_01J00000000000000000000000', 'webhook-timestamp': expect.stringMatching(/^\d{10}$/) });
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/);
    for (const secret of [first, second]) expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(first).verify(body.replace('cns_1', 'cns_2'), headers)).toThrow();
  });
});

describe('webhook configuration', () => {
  it('defaults to no allowed network, a worker per instance, 5 s timeouts and a 5 s poll', () => {
    expect(loadConfig({})).toMatchObject({ webhookAllowedNetworks: [], webhookWorker: true, webhookTimeout: 5, webhookPollInterval: 5 });
  });

  it('normalizes the allowed networks and names a bad variable', () => {
    expect(loadConfig({ HUB_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/8, ::1/128,10.1.2.3/16' }).webhookAllowedNetworks).toEqual(['127.0.0.0/8', '::1/128', '10.1.0.0/16']);
    expect(() => loadConfig({ HUB_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1' })).toThrow(new ConfigError('HUB_WEBHOOK_ALLOWED_NETWORKS: 127.0.0.1 is not a CIDR network such as 127.0.0.0/8 or ::1/128'));
    expect(() => loadConfig({ HUB_WEBHOOK_TIMEOUT: '0' })).toThrow(/^HUB_WEBHOOK_TIMEOUT: must be a number of seconds from 1 to 60$/);
    expect(() => loadConfig({ HUB_WEBHOOK_WORKER: 'maybe' })).toThrow(/^HUB_WEBHOOK_WORKER: must be one of/);
  });
});
