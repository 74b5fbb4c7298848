import { z } from 'zod';
import { plainText } from '../shared/input.js';
import { hasUserInfo } from '../shared/url.js';
import { hasBadPort } from './url-guard.js';
import { WEBHOOK_EVENT_TYPES } from './webhook-events.js';

/** Longest webhook URL accepted. */
const MAX_URL_LENGTH = 2_048;

/** Most subscriptions the hub keeps; each is a receiver every matching event goes to. */
export const MAX_SUBSCRIPTIONS = 100;

/** Default and longest time the old secret keeps signing after a rotation, in seconds. */
const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3_600;
const MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3_600;

/**
 * An http(s) URL without credentials in it nor a port the Fetch Standard blocks; the fragment, never sent, is dropped. Its length is
 * checked as typed, before it is parsed, and again as it is stored, normalized: percent-encoding
 * can make it longer than it was typed.
 */
const webhookUrl = z
  .string()
  .trim()
  .max(MAX_URL_LENGTH, `must have at most ${MAX_URL_LENGTH} characters`)
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http(s) URL' });
      return z.NEVER;
    }
    url.hash = '';
    const normalized = url.toString();
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use http or https' });
    else if (hasUserInfo(url)) ctx.addIssue({ code: 'custom', message: 'must not carry credentials; receivers verify the signature instead' });
    else if (!url.hostname) ctx.addIssue({ code: 'custom', message: 'must name a host' });
    else if (hasBadPort(url)) ctx.addIssue({ code: 'custom', message: `must not use port ${url.port}, which the Fetch Standard blocks: a service there could read the request as commands` });
    else if (normalized.length > MAX_URL_LENGTH) ctx.addIssue({ code: 'custom', message: `must have at most ${MAX_URL_LENGTH} characters once normalized (percent-encoded)` });
    return normalized;
  });

const eventTypes = z
  .array(z.enum(WEBHOOK_EVENT_TYPES, { error: `must each be one of ${WEBHOOK_EVENT_TYPES.join(', ')}` }))
  .min(1, 'must name at least one event type')
  .max(WEBHOOK_EVENT_TYPES.length * 2, `must list at most ${WEBHOOK_EVENT_TYPES.length * 2} event types`)
  .transform((list) => [...new Set(list)]);

export const createSubscriptionSchema = z.object({
  url: webhookUrl,
  eventTypes,
  description: plainText(500).nullish(),
});

export const updateSubscriptionSchema = z.object({
  url: webhookUrl.optional(),
  eventTypes: eventTypes.optional(),
  /** Null clears it. */
  description: plainText(500).nullish(),
});

export const gracePeriodSchema = z
  .number()
  .int('must be a whole number of seconds')
  .min(0, 'must not be negative')
  .max(MAX_ROTATION_GRACE_SECONDS, `must be at most ${MAX_ROTATION_GRACE_SECONDS} (7 days)`)
  .nullish()
  .transform((value) => value ?? DEFAULT_ROTATION_GRACE_SECONDS);
