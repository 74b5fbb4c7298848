import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../app.js';
import { OAuthError } from '../oauth/oauth-error.js';
import { handleTokenRequest } from '../oauth/token.endpoint.js';

/** Form bodies of the OAuth endpoints are small; anything larger is not a real request. */
const FORM_BODY_LIMIT = 16 * 1024;

/** `/jwks.json` and the OAuth endpoints. */
export async function registerOAuthRoutes(app: FastifyInstance, services: Services): Promise<void> {
  await app.register(formbody, { bodyLimit: FORM_BODY_LIMIT });

  app.get('/jwks.json', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return services.keys.jwks();
  });

  app.post('/oauth/token', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    try {
      return await handleTokenRequest(services, request.body, request.id);
    } catch (error) {
      return sendOAuthError(reply, error);
    }
  });
}

/** RFC 6749 §5.2: the error as JSON with its status; anything unexpected is rethrown to the 500 path. */
export function sendOAuthError(reply: FastifyReply, error: unknown): FastifyReply {
  if (!(error instanceof OAuthError)) throw error;
  return reply.code(error.status).headers(error.headers).send(error.toJSON());
}
