import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../authz/principal.js';
import { addressNetwork } from '../shared/address.js';
import { routedUnder, type ProtectedRoute } from './bearer.js';
import { MonotonicRateLimitStore } from './rate-limit-store.js';

/**
 * The key a request is counted under: its caller (so one client's flood cannot starve
 * another behind the same address), or its address when anonymous (an IPv6 address as its /64,
 * `addressNetwork`).
 */
function callerKey(principal: Principal | undefined, request: FastifyRequest): string {
  switch (principal?.kind) {
    case 'user':
      return `user:${principal.userId}`;
    case 'delegated':
    case 'client':
      return `client:${principal.clientId}`;
    default:
      return `address:${addressNetwork(request.ip)}`;
  }
}

/**
 * The most callers past their limit remembered at once; past it, the least recently refused are
 * forgotten, and their requests are checked again and refused by the count.
 */
const LIMITED_CALLERS = 10_000;

/**
 * Limits the requests of each caller to `routes` (GraphQL and the exports) to `perSecond` a
 * second, together, counted over one-minute windows by @fastify/rate-limit once the bearer token
 * is resolved: only requests whose token the hub accepts count against the caller it names, so a
 * revoked token replayed by whoever holds it cannot spend its user's allowance. An export counts
 * as a query does: each is audited (a refused one in the trail of the person it was asked for)
 * and reads a whole record, so an uncounted route would let one caller write into someone's trail,
 * or read their own record over and over, as fast as the hub answers. Past it: 429 with
 * Retry-After, in the route's shape (RATE_LIMITED, or `too_many_requests`), and until the window
 * ends, every request whose token's signature names that caller is answered so as it arrives,
 * before its body is read or its token's state checked. Counts are per instance, and windows
 * timed by its monotonic clock (`MonotonicRateLimitStore`). Register it
 * after the bearer check.
 */
export async function registerRateLimit(app: FastifyInstance, routes: readonly ProtectedRoute[], perSecond: number): Promise<void> {
  const limited = new LRUCache<string, true>({ max: LIMITED_CALLERS, ttl: 60_000 });
  const routeOf = (request: FastifyRequest) => routes.find((route) => routedUnder(request, route.prefix));
  const refusal = (route: ProtectedRoute | undefined, retryAfter: number) =>
    route?.answer === 'graphql'
      ? { statusCode: 429, errors: [{ message: `Too many requests; retry after ${retryAfter} s`, extensions: { code: 'RATE_LIMITED', retryAfter } }] }
      : { statusCode: 429, error: 'too_many_requests', error_description: `too many requests; retry after ${retryAfter} s` };
  app.addHook('onRequest', async (request, reply) => {
    const route = routeOf(request);
    if (!request.claimedCaller || !route) return;
    const key = callerKey(request.claimedCaller, request);
    const remainingMs = limited.getRemainingTTL(key);
    if (remainingMs <= 0) return;
    const retryAfter = Math.max(1, Math.ceil(remainingMs / 1_000));
    // Thrown, as the rate limit's own refusal is, so both are answered alike.
    reply.header('retry-after', String(retryAfter));
    throw refusal(route, retryAfter);
  });
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: perSecond * 60,
    timeWindow: 60_000,
    store: MonotonicRateLimitStore,
    allowList: (request) => !routeOf(request),
    keyGenerator: (request) => callerKey(request.principal, request),
    errorResponseBuilder: (request, context) => {
      if (request.principal.kind !== 'anonymous') limited.set(callerKey(request.principal, request), true, { ttl: context.ttl });
      return refusal(routeOf(request), Math.max(1, Math.ceil(context.ttl / 1_000)));
    },
  });
}
