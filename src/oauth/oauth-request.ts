import { LRUCache } from 'lru-cache';
import type { Services } from '../app.js';
import { authenticateClient, presentedCredentials, type OAuthClient, type PresentedCredentials } from './client-auth.js';
import { ClientThrottle, type ThrottleAnswer } from './client-throttle.js';
import { recordRefusal, type RefusedCaller } from './oauth-audit.js';
import { invalidRequest, invalidTarget, OAuthError, type RefusalSubject } from './oauth-error.js';

export type OAuthEndpoint = RefusedCaller['endpoint'];

/** The HTTP facts of a request to an OAuth endpoint. */
export interface OAuthHttpRequest {
  readonly requestId: string;
  readonly address: string;
  /** The first Authorization header field, as Node keeps it. */
  readonly authorization: string | undefined;
  /** How many Authorization field lines the request held: more than one is two authentications. */
  readonly authorizationFields: number;
}

/**
 * What an endpoint does once the request is parsed and let through the throttle. It calls
 * `authenticate` where its own order of checks puts client authentication; the client it
 * resolves to is the one a refusal after it is audited with.
 */
export type OAuthWork<T> = (params: Record<string, string>, authenticate: () => Promise<OAuthClient>) => Promise<T>;

/** Runs one request to an OAuth endpoint; see `createOAuthRequestRunner`. */
export type RunOAuthRequest = <T>(endpoint: OAuthEndpoint, body: unknown, http: OAuthHttpRequest, work: OAuthWork<T>) => Promise<T>;

/**
 * The parameters a request may repeat: each names a resource the token is to be used at (RFC 8693
 * §2.1, RFC 8707 §2). Every other one must appear once (RFC 6749 §3.1).
 */
const REPEATABLE = new Set(['audience', 'resource']);

/**
 * The form parameters, one value each. `audience` and `resource` may repeat, but the hub's API is
 * the only resource its tokens are for, so their values must all be the same one.
 * @throws OAuthError invalid_request for a body that is not flat, single-valued form data;
 *   invalid_target for repeated `audience` or `resource` values that differ.
 */
function formParams(body: unknown): Record<string, string> {
  if (body === null || typeof body !== 'object') throw invalidRequest('the body must be application/x-www-form-urlencoded');
  const params: Record<string, string> = Object.create(null);
  for (const [key, given] of Object.entries(body)) {
    const value = Array.isArray(given) && REPEATABLE.has(key) ? oneOf(key, given) : given;
    if (typeof value !== 'string') throw invalidRequest(`parameter ${key.slice(0, 40)} must appear once`);
    if (value !== '') params[key] = value;
  }
  return params;
}

/**
 * The one value a repeated `audience` or `resource` names, all of its values alike; empty ones
 * count as left out (RFC 6749 §3.1), and none but empty ones as the parameter left out.
 */
function oneOf(key: string, values: readonly unknown[]): unknown {
  const distinct = new Set(values.filter((value) => value !== ''));
  if (distinct.size > 1) throw invalidTarget(`${key} names more than one resource; tokens here are for this hub's API alone`);
  return distinct.size === 1 ? [...distinct][0] : '';
}

/** The parameters and credentials of a request, or the refusal its parsing met. */
function parse(body: unknown, http: OAuthHttpRequest): { params: Record<string, string>; presented: PresentedCredentials } | { refusal: OAuthError } {
  try {
    const params = formParams(body);
    // Node kept the first of several; a proxy in front may have checked another (RFC 6749 §2.3: one method a request).
    if (http.authorizationFields > 1) throw invalidRequest('use one Authorization header, one client authentication');
    return { params, presented: presentedCredentials(http.authorization, params) };
  } catch (error) {
    if (error instanceof OAuthError) return { refusal: error };
    throw error;
  }
}

/** The OAuth endpoints' shared first steps; see `createOAuthRequestRunner`. */
export interface OAuthRequestRunner {
  readonly run: RunOAuthRequest;
  /**
   * The answer to a request refused before it reached `run` (by the framework: a body over the
   * limit, a media type it cannot read, a malformed body): `refusal`, or the 429 its address's
   * bucket calls for, audited as `run` audits. Never throws.
   */
  readonly refuseUnparsed: (endpoint: OAuthEndpoint, refusal: OAuthError, http: OAuthHttpRequest) => OAuthError;
}

/**
 * The steps every OAuth endpoint begins with, in a fixed order: the form parameters (flat,
 * single-valued) and the credentials presented (one method, well-formed); the throttle (429 with
 * `Retry-After`, before anything touches the database); then the endpoint's `work`. One throttle
 * serves `/oauth/token`, `/oauth/introspect` and `/oauth/revoke`, so no endpoint is a cheaper
 * oracle for a client's secret than another. A request that presents a secret spends the bucket
 * of the client it names at its address; any other, one refused while parsed or by the framework
 * included, spends its address's bucket: naming a client without its secret cannot spend that
 * client's allowance, and a flood of malformed requests is bounded too. A request presenting the
 * secret of a client not yet authenticated from its address first spends that address's bucket of
 * failed authentications, given back once the client authenticates: an address cycling made-up
 * client ids (each with a fresh bucket of its own) is stopped there before each costs a database
 * lookup and an audit event. Clients that did authenticate from it are not counted there, since
 * many agents may share one egress address; only one new to it waits while it keeps failing, as
 * nothing short of the database tells it from a made-up one. Every refusal is audited with its
 * reason, a run of 429s once, so a flood cannot flood the trail instead. Create one per app.
 */
export function createOAuthRequestRunner(services: Services): OAuthRequestRunner {
  const rate = services.config.tokenRateLimit;
  const throttle = new ClientThrottle(rate);
  // Failed authentications per address, apart from `throttle`'s address buckets: requests that
  // present no secret (naming a client, say) must not lock out the clients that do.
  const failures = new ClientThrottle(rate);
  // The refused tokens already recorded in their user's trail: a client retrying one refused
  // token writes one event there, the rest in the hub's trail, as the bearer check records each
  // refused token once. A few MB at most.
  const inTrails = new LRUCache<string, true>({ max: 50_000 });
  const firstInTrail = (subject: RefusalSubject | undefined) => {
    if (!subject || inTrails.has(subject.token)) return undefined;
    inTrails.set(subject.token, true);
    return subject;
  };

  /**
   * Takes a request presenting `clientId`'s secret (undefined: no secret) from its buckets;
   * `owesFailure` when it spent its address's failure bucket, to be given back if it authenticates.
   */
  function admit(clientId: string | undefined, address: string): { answer: ThrottleAnswer; owesFailure: boolean } {
    if (clientId === undefined || throttle.hasAuthenticated(clientId, address)) return { answer: throttle.take(clientId, address), owesFailure: false };
    const failure = failures.take(undefined, address);
    if (!failure.allowed) return { answer: failure, owesFailure: false };
    const answer = throttle.take(clientId, address);
    if (!answer.allowed) failures.refund(undefined, address);
    return { answer, owesFailure: answer.allowed };
  }

  async function run<T>(endpoint: OAuthEndpoint, body: unknown, http: OAuthHttpRequest, work: OAuthWork<T>): Promise<T> {
    let claimedId: string | undefined;
    let client: OAuthClient | undefined;
    let audit = true;
    try {
      const parsed = parse(body, http);
      const presented = 'presented' in parsed ? parsed.presented : undefined;
      claimedId = presented?.clientId;
      const secretOf = presented?.secret === undefined ? undefined : claimedId;
      const { answer, owesFailure } = admit(secretOf, http.address);
      if (!answer.allowed) {
        audit = answer.firstRefusal;
        throw slowDown(answer.retryAfterSeconds);
      }
      if ('refusal' in parsed) throw parsed.refusal;
      return await work(parsed.params, async () => {
        client = await authenticateClient(services, parsed.presented);
        if (secretOf !== undefined) {
          throttle.markAuthenticated(secretOf, http.address);
          if (owesFailure) failures.refund(undefined, http.address);
        }
        return client;
      });
    } catch (error) {
      if (error instanceof OAuthError && audit) recordRefusal(services, error, { client, claimedId, endpoint, requestId: http.requestId, subject: firstInTrail(error.subject) });
      throw error;
    }
  }

  function refuseUnparsed(endpoint: OAuthEndpoint, refusal: OAuthError, http: OAuthHttpRequest): OAuthError {
    const answer = throttle.take(undefined, http.address);
    const error = answer.allowed ? refusal : slowDown(answer.retryAfterSeconds);
    if (answer.allowed || answer.firstRefusal) recordRefusal(services, error, { endpoint, requestId: http.requestId });
    return error;
  }

  return { run, refuseUnparsed };
}

const slowDown = (retryAfterSeconds: number) =>
  new OAuthError(429, 'slow_down', `too many requests; retry after ${retryAfterSeconds} s`, 'rate limited', { 'retry-after': String(retryAfterSeconds) });
