import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ANONYMOUS, type Principal } from '../authz/principal.js';
import { InvalidTokenError } from '../oauth/access-token.js';
import { ClientThrottle } from '../oauth/client-throttle.js';
import { RefusedTokenError } from '../oauth/token.service.js';
import { addressNetwork } from '../shared/address.js';
import { RateLimitedError } from '../shared/errors.js';
import { fieldLines } from './field-lines.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller of a request to a protected route, set by the bearer hook; anonymous without a token. */
    principal: Principal;
    /**
     * Who a request's token, signed by the hub, says its caller is, before its state in the
     * database is checked (from onRequest on): to turn away at once a caller the rate limit has
     * already refused, never to decide access.
     */
    claimedCaller?: Principal;
    /**
     * Checks the request's token again, as the request's own check did (unexpired, its key still
     * accepted; not revoked, nor its session; its client, agents and consent still in force; its
     * user active):
     * for an answer that outlives its request (an export), before each part it reads. Rejects with
     * InvalidTokenError once the token no longer stands; resolves at once for a request without one.
     */
    recheckToken: () => Promise<void>;
  }
}

/** A bearer token whose signature and claims passed: who it names, and the check of its state. */
export interface TokenStep {
  /** The caller as the token names it; revoked, withdrawn or suspended grants are not yet known. */
  readonly caller: Principal;
  /** Checks it again as of now (expiry, key) and its state in the database; resolves to the caller. @throws InvalidTokenError */
  check(): Promise<Principal>;
}

/**
 * Checks at once what can be checked of a bearer token without the database (its signature and
 * claims), and resolves to the check of its state there, which gives the caller.
 * @throws InvalidTokenError from the first step.
 */
export type Authenticate = (token: string) => Promise<TokenStep>;

const NO_TOKEN = async (): Promise<void> => {};

/** A bearer token header (RFC 6750 §2.1): the scheme, then a token of b64token characters. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** Why a request with a bearer token was refused (RFC 6750 §3.1). */
export interface BearerRefusal {
  readonly error: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  readonly description?: string;
  /** The scopes that would have been enough. */
  readonly scope?: string;
}

/**
 * The `WWW-Authenticate` challenge of a refused request (RFC 6750 §3): the realm; the error, for a
 * request that carried a bearer token (one with none, or with another scheme, gets no error code,
 * §3.1); and the resource's metadata (RFC 9728 §5.1), where a client such as an MCP client finds
 * the authorization server to get a new token from.
 */
export function bearerChallenge(resourceMetadataUrl: string, refusal?: BearerRefusal): string {
  const params = ['realm="hub"'];
  if (refusal) {
    params.push(`error="${refusal.error}"`);
    if (refusal.description) params.push(`error_description="${refusal.description.replace(/["\\]/g, '')}"`);
    if (refusal.scope) params.push(`scope="${refusal.scope}"`);
  }
  params.push(`resource_metadata="${resourceMetadataUrl}"`);
  return `Bearer ${params.join(', ')}`;
}

/**
 * The refusal of a request to a route outside GraphQL: `status` with the `WWW-Authenticate`
 * `challenge` (`bearerChallenge`) and an RFC 6749 §5.2 body.
 */
export function refuseWithChallenge(reply: FastifyReply, status: number, challenge: string, error: string, description: string): FastifyReply {
  return reply.code(status).header('www-authenticate', challenge).send({ error, error_description: description });
}

/** A route whose callers the bearer hook resolves. */
export interface ProtectedRoute {
  /** The start of the route's path, as registered (`/users/` for `/users/:id/export`). */
  readonly prefix: string;
  /** The endpoint its refused tokens are audited under; none, not audited. */
  readonly endpoint?: string;
  /** The shape of its 401: a GraphQL response, or an OAuth error (RFC 6750 §3). */
  readonly answer: 'graphql' | 'oauth';
}

export interface BearerAuthOptions {
  readonly routes: readonly ProtectedRoute[];
  readonly authenticate: Authenticate;
  /** Where the resource's metadata is (RFC 9728), named in every challenge. */
  readonly resourceMetadataUrl: string;
  /** Told of the refusals that name a caller the hub can trust (to audit them). Must not throw. */
  readonly onRefused?: (error: RefusedTokenError, request: FastifyRequest, endpoint: string) => void;
  /**
   * Refusals an address may have a second, with bursts of as many (an IPv6 address counts as its
   * /64); past them, every request it sends with an Authorization header answers 429 unchecked.
   * Unset, refusals are not limited.
   */
  readonly refusalsPerSecond?: number;
}

/**
 * Resolves the caller of every request to a protected route from its `Authorization: Bearer`
 * header (RFC 6750 §2.1), once, in two steps: the header and what the token itself shows (its
 * signature and claims) as the request arrives, so a token the hub never issued is refused with
 * 401 whatever its body; its state in the database (revocation, consent, agents) once the request
 * has arrived whole, before its route runs, so a client holding back a body cannot carry that
 * state past a withdrawal into the fields its query reads. No header makes an anonymous caller,
 * which each route refuses or serves as it may. A header the hub does not accept answers 401 with
 * the Bearer challenge: `invalid_token` for a bearer token it refused, no error code for another
 * scheme (§3.1).
 *
 * Those 401s come before the GraphQL rate limit, which counts callers by the token they resolve
 * to, so they are counted here, per address (`refusalsPerSecond`): else one address could have
 * forged tokens checked, and refused ones audited, without end. A request is counted before its
 * token is checked, so concurrent ones cannot all pass a count none of them has added to yet, and
 * given back once its token is accepted: only refusals spend the allowance. An address past it is
 * answered 429 for every token, valid ones included, until its bucket refills: telling them apart
 * is the very check the limit saves. Behind a shared NAT one client's flood thus locks out its
 * neighbours' tokens too, as every per-address limit does; that lasts only while the flood does
 * (the bucket refills continuously, no window to sit out), requests without a token still pass,
 * and a client whose tokens are accepted holds a place in it only while each token is checked.
 */
export function registerBearerAuth(app: FastifyInstance, options: BearerAuthOptions): void {
  const refusals = options.refusalsPerSecond === undefined ? undefined : new ClientThrottle(options.refusalsPerSecond);
  /** Requests whose token passed the first step, with their route and the second step to run. */
  const pending = new WeakMap<FastifyRequest, { readonly route: ProtectedRoute; readonly check: () => Promise<Principal> }>();
  // Logged with its reason, which the client reads in the challenge and which the request line
  // lacks: a token the hub's own key signed but the hub would never issue (a lifetime too long, an
  // `iat` past its key's retirement) tells of a leaked key, and no audit event records it.
  // A malformed request (invalid_request) is 400, a refused or missing token 401 (RFC 6750 §3.1).
  const refuse = (request: FastifyRequest, reply: FastifyReply, route: ProtectedRoute, description: string, error?: 'invalid_token' | 'invalid_request') => {
    request.log.info({ reason: description }, 'bearer token refused');
    const malformed = error === 'invalid_request';
    return reply
      .code(malformed ? 400 : 401)
      .header('www-authenticate', bearerChallenge(options.resourceMetadataUrl, error && { error, description }))
      .header('cache-control', 'no-store')
      .send(
        route.answer === 'graphql'
          ? { errors: [{ message: error === 'invalid_token' ? `Invalid access token: ${description}` : description, extensions: { code: malformed ? 'BAD_USER_INPUT' : 'UNAUTHENTICATED' } }] }
          : { error: error ?? 'unauthorized', error_description: description },
      );
  };
  /** The 401 of a token refused at either step, or the error rethrown when it is not a refusal. */
  const refused = (request: FastifyRequest, reply: FastifyReply, route: ProtectedRoute, error: unknown) => {
    if (!(error instanceof InvalidTokenError)) {
      refusals?.refund(undefined, request.ip);
      throw error;
    }
    if (error instanceof RefusedTokenError && route.endpoint !== undefined) options.onRefused?.(error, request, route.endpoint);
    return refuse(request, reply, route, error.message.replace(/["\\]/g, ''), 'invalid_token');
  };

  app.decorateRequest('principal', null as never);
  app.decorateRequest('recheckToken', null as never);
  app.addHook('onRequest', async (request, reply) => {
    request.principal = ANONYMOUS;
    request.recheckToken = NO_TOKEN;
    const header = request.headers.authorization;
    const route = header === undefined ? undefined : options.routes.find((r) => routedUnder(request, r.prefix));
    if (header === undefined || !route) return;
    const allowance = refusals?.take(undefined, request.ip);
    if (allowance && !allowance.allowed) {
      if (allowance.firstRefusal) request.log.warn({ address: addressNetwork(request.ip) }, 'bearer refusals over the allowance of an address');
      return tooManyRefusals(reply, route, allowance.retryAfterSeconds);
    }
    // Node kept the first of several, where a proxy in front may have checked another.
    if (fieldLines(request, 'authorization') > 1) return refuse(request, reply, route, 'one Authorization header at most', 'invalid_request');
    if (!/^Bearer(?: |$)/i.test(header)) return refuse(request, reply, route, 'the Authorization header must be Bearer <token>');
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) return refuse(request, reply, route, 'malformed bearer token', 'invalid_token');
    try {
      const step = await options.authenticate(token);
      request.claimedCaller = step.caller;
      pending.set(request, { route, check: () => step.check() });
    } catch (error) {
      return refused(request, reply, route, error);
    }
  });
  app.addHook('preHandler', async (request, reply) => {
    const step = pending.get(request);
    if (!step) return;
    pending.delete(request);
    try {
      request.principal = await step.check();
      request.recheckToken = async () => void (await step.check());
    } catch (error) {
      return refused(request, reply, step.route, error);
    }
    refusals?.refund(undefined, request.ip);
  });
  // A request answered before its route ran (a body it could not parse, say) did not refuse its token.
  app.addHook('onResponse', async (request) => {
    if (pending.delete(request)) refusals?.refund(undefined, request.ip);
  });
}

/**
 * The 429 of an address past its refusals, in the route's own shape: RATE_LIMITED as the GraphQL
 * rate limit answers, or `too_many_requests` as the exports answer their other 429s.
 */
function tooManyRefusals(reply: FastifyReply, route: ProtectedRoute, retryAfter: number): FastifyReply {
  return reply
    .code(429)
    .header('retry-after', String(retryAfter))
    .header('cache-control', 'no-store')
    .send(
      route.answer === 'graphql'
        ? { errors: [new RateLimitedError(retryAfter).toJSON()] }
        : { error: 'too_many_requests', error_description: `too many refused tokens from this address; retry after ${retryAfter} s` },
    );
}

/**
 * True when the route the request was matched to lies under `prefix`. Not its raw URL: the router
 * decodes percent-escapes, so `/%67raphql` reaches `/graphql` without its raw URL starting with it.
 */
export function routedUnder(request: FastifyRequest, prefix: string): boolean {
  return request.routeOptions.url?.startsWith(prefix) ?? false;
}
