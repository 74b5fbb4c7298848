import formbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../app.js';
import { authorizationServerMetadata, authorizationServerMetadataPath, protectedResourceMetadata, resourceMetadataPath } from '../oauth/discovery.js';
import { introspect } from '../oauth/introspection.endpoint.js';
import { JWKS_MAX_AGE_SECONDS } from '../oauth/key-schedule.js';
import { OAuthError } from '../oauth/oauth-error.js';
import { revoke } from '../oauth/revocation.endpoint.js';
import { createOAuthRequestRunner, type OAuthEndpoint, type OAuthHttpRequest } from '../oauth/oauth-request.js';
import { createTokenEndpoint } from '../oauth/token.endpoint.js';
import { fieldLines } from './field-lines.js';

/** Form bodies of the OAuth endpoints are small; anything larger is not a real request. */
const FORM_BODY_LIMIT = 16 * 1024;

/** `/jwks.json`, the discovery documents and the OAuth endpoints. */
export async function registerOAuthRoutes(app: FastifyInstance, services: Services): Promise<void> {
  await app.register(formbody, { bodyLimit: FORM_BODY_LIMIT });
  const { run, refuseUnparsed } = createOAuthRequestRunner(services);
  const handleTokenRequest = createTokenEndpoint(services, run);
  const { tokenRequestsRefused } = services.metrics;
  /** Answers a refused request to `endpoint`; one to the token endpoint is counted by its error code. */
  const refuse = (endpoint: OAuthEndpoint, reply: FastifyReply, error: unknown) => {
    if (endpoint === 'token' && error instanceof OAuthError) tokenRequestsRefused.inc({ error: error.error });
    return sendOAuthError(reply, error);
  };
  const formRoute = (endpoint: OAuthEndpoint) => ({
    bodyLimit: FORM_BODY_LIMIT,
    errorHandler: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const refusal = frameworkRefusal(error);
      return refuse(endpoint, noStore(reply), refuseUnparsed(endpoint, refusal, httpFacts(request)));
    },
  });

  app.get('/jwks.json', async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${services.keys.jwksMaxAge()}`);
    return services.keys.jwks();
  });
  app.get('/receipts/jwks.json', async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    return services.keys.receiptJwks();
  });

  const serverMetadata = authorizationServerMetadata(services.config);
  // RFC 8414 §3.1 places the document of an issuer with a path under the well-known prefix.
  for (const url of new Set(['/.well-known/oauth-authorization-server', authorizationServerMetadataPath(services.config)])) {
    app.get(url, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(serverMetadata));
  }
  // RFC 9728 §3.1 places the document of a resource with a path under the well-known prefix.
  const resourceMetadata = protectedResourceMetadata(services.config);
  for (const url of new Set(['/.well-known/oauth-protected-resource', resourceMetadataPath(services.config)])) {
    app.get(url, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(resourceMetadata));
  }

  app.post('/oauth/token', formRoute('token'), async (request, reply) => {
    noStore(reply);
    try {
      return await handleTokenRequest(formBody(request), httpFacts(request));
    } catch (error) {
      return refuse('token', reply, error);
    }
  });

  app.post('/oauth/introspect', formRoute('introspect'), async (request, reply) => {
    noStore(reply);
    try {
      return await run('introspect', formBody(request), httpFacts(request), async (params, authenticate) => introspect(services, params, await authenticate(), request.id));
    } catch (error) {
      return sendOAuthError(reply, error);
    }
  });

  app.post('/oauth/revoke', formRoute('revoke'), async (request, reply) => {
    noStore(reply);
    try {
      const refusal = await run('revoke', formBody(request), httpFacts(request), async (params, authenticate) => revoke(services, params, await authenticate(), request.id));
      return refusal ? sendOAuthError(reply, refusal) : reply.code(200).send();
    } catch (error) {
      return sendOAuthError(reply, error);
    }
  });
}

/** The parsed body of a form post; undefined for any other media type (RFC 6749 §3.2 asks for forms only). */
const formBody = (request: FastifyRequest) => (/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '') ? request.body : undefined);

const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store').header('pragma', 'no-cache');

const httpFacts = (request: FastifyRequest): OAuthHttpRequest => ({
  requestId: request.id,
  address: request.ip,
  authorization: request.headers.authorization,
  authorizationFields: fieldLines(request, 'authorization'),
});

/** RFC 6749 §5.2: the error as JSON with its status; anything unexpected is rethrown to the 500 path. */
function sendOAuthError(reply: FastifyReply, error: unknown): FastifyReply {
  if (!(error instanceof OAuthError)) throw error;
  return reply.code(error.status).headers(error.headers).send(error.toJSON());
}

/**
 * A client error Fastify raised on an OAuth route before its handler ran (a body over the limit, a
 * media type it cannot parse, a malformed body) as the OAuth error to answer with: RFC 6749 §5.2's
 * shape, as every OAuth error, with its status. Anything else (a 5xx, an unreachable database) is
 * rethrown to the app's handler as it came.
 */
function frameworkRefusal(error: FastifyError): OAuthError {
  const status = error instanceof Error ? error.statusCode : undefined;
  if (status === undefined || status < 400 || status >= 500) throw error;
  return new OAuthError(status, 'invalid_request', error.message);
}
