import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * CORS on every route of `app`, by endpoint (`corsPolicy`), for the frontends at `allowedOrigins`;
 * `metadataPaths` are where the discovery documents of an issuer or API with a path are served.
 */
export async function registerCors(app: FastifyInstance, allowedOrigins: readonly string[], metadataPaths: readonly string[]): Promise<void> {
  await app.register(cors, { delegator: corsPolicy(allowedOrigins, publicDocuments(metadataPaths)) });
}

/** Documents anyone may read from any page, as Google, Auth0 and Okta serve their discovery documents and keys. */
const publicDocuments = (metadataPaths: readonly string[]) =>
  new Set(['/jwks.json', '/receipts/jwks.json', '/.well-known/oauth-authorization-server', '/.well-known/oauth-protected-resource', ...metadataPaths]);

/**
 * What a browser frontend calls: GraphQL, the token endpoint to refresh its session, revocation to
 * sign out, and the user's own data export. Not introspection, which takes a client secret that no
 * browser can keep, nor health, audience exports or anything an operator or a server calls.
 */
const FRONTEND_ENDPOINTS = [/^\/graphql$/, /^\/oauth\/(?:token|revoke)$/, /^\/users\/[^/]+\/export$/];

/**
 * CORS by endpoint. The public documents answer every origin with `*`; the frontend endpoints answer
 * the configured origins, by name, and any other origin exactly as if CORS did not exist. No
 * endpoint allows credentials: tokens travel in the Authorization header, never in a cookie, so a
 * page of another origin has nothing to ride on but what its own script holds. Apollo's CSRF
 * prevention still refuses the simple requests (text/plain, or GET without a preflight header) that
 * a browser sends cross-site without asking first. Decided by the path as sent, since a preflight
 * reaches no route of its own; an unusual spelling of a path (`/%67raphql`) gets no CORS at all.
 */
function corsPolicy(allowedOrigins: readonly string[], publicPaths: ReadonlySet<string>): (request: FastifyRequest) => Promise<FastifyCorsOptions> {
  const allowed = new Set(allowedOrigins);
  const closed: FastifyCorsOptions = { origin: false };
  const publicDocument: FastifyCorsOptions = { origin: '*', methods: ['GET', 'HEAD'] };
  const frontend: FastifyCorsOptions = {
    origin: [...allowedOrigins],
    methods: ['GET', 'POST'],
    allowedHeaders: ['authorization', 'content-type', 'apollo-require-preflight', 'x-apollo-operation-name', 'x-request-id'],
    // What a client reads to react: the Bearer challenge, when to retry, the id to quote in a report.
    exposedHeaders: ['www-authenticate', 'retry-after', 'x-request-id'],
    maxAge: 600,
  };
  return async (request) => {
    const path = request.url.split('?', 1)[0]!;
    if (publicPaths.has(path)) return publicDocument;
    const { origin } = request.headers;
    return origin !== undefined && allowed.has(origin) && FRONTEND_ENDPOINTS.some((endpoint) => endpoint.test(path)) ? frontend : closed;
  };
}
