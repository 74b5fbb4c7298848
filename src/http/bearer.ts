import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ANONYMOUS, type Principal } from '../authz/principal.js';
import { InvalidTokenError } from '../oauth/access-token.js';
import { RefusedTokenError } from '../oauth/token.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller of a request to a protected route, set by the bearer hook; anonymous without a token. */
    principal: Principal;
  }
}

export type Authenticate = (token: string) => Promise<Principal>;

/** Told of a token refused after its signature checked out, before the 401 is sent. Must not throw. */
export type OnRefusedToken = (error: RefusedTokenError, request: FastifyRequest) => void;

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Resolves the caller of every request under `prefix` from its `Authorization: Bearer` header
 * (RFC 6750 §2.1). No header makes an anonymous caller; a header with a token the hub does not
 * accept answers 401 with `WWW-Authenticate: Bearer error="invalid_token"` before anything runs;
 * `onRefused` hears of the refusals that name a caller the hub can trust (to audit them).
 */
export function registerBearerAuth(app: FastifyInstance, prefix: string, authenticate: Authenticate, onRefused?: OnRefusedToken): void {
  app.decorateRequest('principal', null as never);
  app.addHook('onRequest', async (request, reply) => {
    request.principal = ANONYMOUS;
    const header = request.headers.authorization;
    if (header === undefined || !routedUnder(request, prefix)) return;
    try {
      request.principal = await authenticate(bearerToken(header));
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      if (error instanceof RefusedTokenError) onRefused?.(error, request);
      const description = error.message.replace(/["\\]/g, '');
      return reply
        .code(401)
        .header('www-authenticate', `Bearer error="invalid_token", error_description="${description}"`)
        .header('cache-control', 'no-store')
        .send({ errors: [{ message: `Invalid access token: ${description}`, extensions: { code: 'UNAUTHENTICATED' } }] });
    }
  });
}

/**
 * True when the route the request was matched to lies under `prefix`. Not its raw URL: the router
 * decodes percent-escapes, so `/%67raphql` reaches `/graphql` without its raw URL starting with it.
 */
export function routedUnder(request: FastifyRequest, prefix: string): boolean {
  return request.routeOptions.url?.startsWith(prefix) ?? false;
}

function bearerToken(header: string): string {
  const match = BEARER.exec(header);
  if (!match?.[1]) throw new InvalidTokenError('expected Authorization: Bearer <token>');
  return match[1];
}
