import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../authz/principal.js';
import { addressNetwork } from '../shared/address.js';
import { routedUnder } from './bearer.js';

/**
 * The key a GraphQL request is counted under: its caller (so one client's flood cannot starve
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
 * Limits GraphQL requests to `perSecond` a second per caller, counted over one-minute windows
 * by @fastify/rate-limit once the bearer token is resolved: only requests whose token the hub
 * accepts count against the caller it names, so a revoked token replayed by whoever holds it
 * cannot spend its user's allowance. Past it: 429 with Retry-After and a RATE_LIMITED error,
 * and until the window ends, every request whose token's signature names that caller is
 * answered so as it arrives, before its body is read or its token's state checked. Counts are
 * per instance. Register it after the bearer check.
 */
export async function registerGraphqlRateLimit(app: FastifyInstance, prefix: string, perSecond: number): Promise<void> {
  const limited = new LRUCache<string, true>({ max: LIMITED_CALLERS, ttl: 60_000 });
  const refusal = (retryAfter: number) => ({
    statusCode: 429,
    errors: [{ message: `Too many requests; retry after ${retryAfter} s`, extensions: { code: 'RATE_LIMITED', retryAfter } }],
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.claimedCaller || !routedUnder(request, prefix)) return;
    const key = callerKey(request.claimedCaller, request);
    const remainingMs = limited.getRemainingTTL(key);
    if (remainingMs <= 0) return;
    const retryAfter = Math.max(1, Math.ceil(remainingMs / 1_000));
    // Thrown, as the rate limit's own refusal is, so both are answered alike.
    reply.header('retry-after', String(retryAfter));
    throw refusal(retryAfter);
  });
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: perSecond * 60,
    timeWindow: 60_000,
    allowList: (request) => !routedUnder(request, prefix),
    keyGenerator: (request) => callerKey(request.principal, request),
    errorResponseBuilder: (request, context) => {
      if (request.principal.kind !== 'anonymous') limited.set(callerKey(request.principal, request), true, { ttl: context.ttl });
      return refusal(Math.max(1, Math.ceil(context.ttl / 1_000)));
    },
  });
}
