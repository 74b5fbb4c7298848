import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../app.js';
import { decideAudienceAccess } from '../authz/audience-access.js';
import { InvalidTokenError } from '../oauth/access-token.js';
import { ForbiddenError, NotFoundError } from '../shared/errors.js';
import { exportSavedAudience } from './audience.export.js';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * `GET /audiences/:id/export`: a saved audience as newline-delimited JSON, streamed in constant
 * memory. Steps, each refusing by default: a bearer token (401), one the hub accepts (401
 * invalid_token), a client with `audience:read` (403 insufficient_scope), an audience that this
 * client saved (404), a saved filter that the token and the purpose still cover (403); then the
 * lines.
 */
export async function registerAudienceRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get<{ Params: { id: string } }>('/audiences/:id/export', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return refuse(reply, 401, 'Bearer realm="hub"', 'unauthorized', 'a bearer token is required');
    let principal;
    try {
      principal = await services.tokens.authenticate(token);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      return refuse(reply, 401, 'Bearer error="invalid_token"', 'invalid_token', 'the access token is not valid');
    }
    if (!decideAudienceAccess(principal).allowed) {
      return refuse(reply, 403, 'Bearer error="insufficient_scope", scope="audience:read"', 'insufficient_scope', 'audience:read is required');
    }
    let lines: AsyncGenerator<string>;
    try {
      lines = await exportSavedAudience(services, { principal, requestId: request.id }, request.params.id);
    } catch (error) {
      if (error instanceof NotFoundError) return reply.code(404).send({ error: 'not_found', error_description: 'no such audience' });
      // A saved filter on a field this token or the purpose as it is now does not cover.
      if (error instanceof ForbiddenError) {
        if (error.reason === 'MISSING_SCOPE') return refuse(reply, 403, 'Bearer error="insufficient_scope"', 'insufficient_scope', error.message);
        return reply.code(403).send({ error: 'access_denied', error_description: error.message });
      }
      throw error;
    }
    return reply
      .header('content-type', 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="${request.params.id}.ndjson"`)
      .send(Readable.from(lines));
  });
}

function refuse(reply: FastifyReply, status: number, challenge: string, error: string, description: string): FastifyReply {
  return reply.code(status).header('www-authenticate', challenge).send({ error, error_description: description });
}
