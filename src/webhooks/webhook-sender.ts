import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { ipLiteral, type AddressPolicy } from './address-policy.js';
import { guardedLookup, hasBadPort, RefusedAddressError, type Resolve } from './url-guard.js';

/** One attempt to send: where, with which signed headers, which body. */
export interface WebhookRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** What came of an attempt: a status code when the receiver answered, else why not. */
export interface SendOutcome {
  readonly statusCode: number | null;
  /** The receiver's `Retry-After`, as sent. */
  readonly retryAfter: string | undefined;
  /** A short, plain description of the failure; null when the receiver answered. */
  readonly error: string | null;
  readonly durationMs: number;
}

export interface WebhookSender {
  /** Sends one attempt. Never throws: every failure is an outcome. */
  send(request: WebhookRequest): Promise<SendOutcome>;
  close(): Promise<void>;
}

/** Bytes of a response read before the connection is let go; the body itself is not kept. */
const RESPONSE_READ_LIMIT = 4 * 1024;

/**
 * Sends webhook attempts over undici with what an outbound call to an untrusted URL needs: no
 * port the Fetch Standard blocks; the address policy checked for every attempt, after resolution
 * and on the address connected to (one connection per attempt, none kept alive); a timeout to
 * connect and another for the answer; no redirect followed (a 3xx is a failed attempt); at most a
 * few KiB of any response read.
 */
export function createWebhookSender(options: { policy: AddressPolicy; resolve: Resolve; timeoutSeconds: number }): WebhookSender {
  const timeoutMs = options.timeoutSeconds * 1_000;
  const agent = new Agent({
    connect: { timeout: timeoutMs, lookup: guardedLookup(options.policy, options.resolve) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // No keep-alive: each attempt opens its own connection, so each resolves and checks again.
    pipelining: 0,
  });
  return {
    async send({ url, headers, body }) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      const target = new URL(url);
      const literal = ipLiteral(target.hostname);
      if ((target.protocol !== 'http:' && target.protocol !== 'https:') || (literal !== undefined && !options.policy.allows(literal))) {
        return { statusCode: null, retryAfter: undefined, error: `${literal ?? target.protocol} is not an allowed target`, durationMs: 0 };
      }
      // A subscription stored before its port was blocked is refused here too.
      if (hasBadPort(target)) return { statusCode: null, retryAfter: undefined, error: `port ${target.port} is blocked (Fetch Standard)`, durationMs: 0 };
      try {
        const response = await request(target, {
          dispatcher: agent,
          method: 'POST',
          headers,
          body,
          maxRedirections: 0,
          signal: AbortSignal.timeout(timeoutMs * 3),
        });
        await response.body.dump({ limit: RESPONSE_READ_LIMIT }).catch(() => {});
        const retryAfter = response.headers['retry-after'];
        return { statusCode: response.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, error: null, durationMs: elapsed() };
      } catch (error) {
        return { statusCode: null, retryAfter: undefined, error: describe(error, options.timeoutSeconds), durationMs: elapsed() };
      }
    },
    close: () => agent.close(),
  };
}

const MESSAGES: Record<string, (timeout: number) => string> = {
  UND_ERR_CONNECT_TIMEOUT: (t) => `no connection within ${t} s`,
  UND_ERR_HEADERS_TIMEOUT: (t) => `no response within ${t} s`,
  UND_ERR_BODY_TIMEOUT: (t) => `response body stalled for ${t} s`,
  UND_ERR_SOCKET: () => 'connection closed by the receiver',
  ECONNREFUSED: () => 'connection refused',
  ECONNRESET: () => 'connection reset',
  ENOTFOUND: () => 'host not found',
  EAI_AGAIN: () => 'host name lookup failed',
  EHOSTUNREACH: () => 'host unreachable',
  ENETUNREACH: () => 'network unreachable',
  ABORT_ERR: (t) => `no complete response within ${3 * t} s`,
};

/** A failure in plain words, from a fixed list (or the error's code): never a stack or a body. */
function describe(error: unknown, timeoutSeconds: number): string {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (cause instanceof RefusedAddressError) return cause.message.slice(0, 300);
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && MESSAGES[code]) return MESSAGES[code](timeoutSeconds);
    if (cause.name === 'TimeoutError' || cause.name === 'AbortError') return MESSAGES.ABORT_ERR!(timeoutSeconds);
  }
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? `request failed (${code.slice(0, 40)})` : 'request failed';
}
