import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { addressNetwork } from '../shared/address.js';
import { routedUnder } from './bearer.js';

/**
 * The key a GraphQL request is counted under: the caller its token names (so one client's
 * flood cannot starve another behind the same address), or its address when anonymous (an IPv6
 * address as its /64, `addressNetwork`). The token's signature is checked by then, its state in
 * the database not yet: a caller past its limit is refused before that round trip.
 */
function callerKey(request: FastifyRequest): string {
  const principal = request.claimedCaller;
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
 * Limits GraphQL requests to `perSecond` a second per caller, counted over one-minute windows
 * by @fastify/rate-limit as they arrive, after the bearer token's signature is checked (register
 * it after the bearer check) and before their body is read or the token's state checked. Past
 * it: 429 with Retry-After and a RATE_LIMITED error. Counts are per instance.
 */
export async function registerGraphqlRateLimit(app: FastifyInstance, prefix: string, perSecond: number): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: perSecond * 60,
    timeWindow: 60_000,
    allowList: (request) => !routedUnder(request, prefix),
    keyGenerator: callerKey,
    errorResponseBuilder: (_request, context) => {
      const retryAfter = Math.max(1, Math.ceil(context.ttl / 1_000));
      return {
        statusCode: 429,
        errors: [{ message: `Too many requests; retry after ${retryAfter} s`, extensions: { code: 'RATE_LIMITED', retryAfter } }],
      };
    },
  });
}
