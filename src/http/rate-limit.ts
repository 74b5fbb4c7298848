import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { addressNetwork } from '../shared/address.js';
import { routedUnder } from './bearer.js';

/**
 * The key a GraphQL request is counted under: the caller its token names (so one client's
 * flood cannot starve another behind the same address), or its address when anonymous (an IPv6
 * address as its /64, `addressNetwork`).
 */
function callerKey(request: FastifyRequest): string {
  const { principal } = request;
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
 * by @fastify/rate-limit after the bearer token is resolved. Past it: 429 with Retry-After and
 * a RATE_LIMITED error. Counts are per instance.
 */
export async function registerGraphqlRateLimit(app: FastifyInstance, prefix: string, perSecond: number): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
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
