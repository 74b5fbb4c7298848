import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import type { Config } from '../config.js';
import type { Logger } from '../shared/logger.js';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable, type DatabaseHandle } from '../db/connect.js';
import type { Context } from '../graphql/context.js';
import type { RefusedTokenRecorder } from '../audit/refused-token-recorder.js';
import { registerBearerAuth, type Authenticate } from './bearer.js';
import { registerGraphql } from './graphql.js';
import { registerGraphqlRateLimit } from './rate-limit.js';
import { registerHealth } from './health.js';

/** Largest request body accepted, in bytes: ample for any GraphQL document within the limits. */
export const BODY_LIMIT = 128 * 1024;

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface HttpServerOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: DatabaseHandle;
  readonly schema: GraphQLSchema;
  readonly createContext: (request: FastifyRequest) => Promise<Context>;
  /** Resolves bearer tokens on `/graphql`; without it every caller is anonymous. */
  readonly authenticate?: Authenticate;
  /** Audits the delegated tokens `authenticate` refused on `/graphql` (once per token). */
  readonly refusedTokens?: Pick<RefusedTokenRecorder, 'record'>;
  /** Further Apollo plugins. */
  readonly plugins?: readonly ApolloServerPlugin<Context>[];
  /** Further routes (OAuth, JWKS), registered before GraphQL. */
  readonly routes?: (app: FastifyInstance) => Promise<void>;
}

/** The HTTP server: GraphQL, health, readiness and the routes given. Not yet listening. */
export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    // A caller's own request id is kept when it is sane, so logs can be joined across systems.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // The client's address, on which every per-address throttle counts: X-Forwarded-For only from a trusted proxy.
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    requestTimeout: 30_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  // Once closing, every response ends its connection, so keep-alive clients cannot hold the
  // shutdown open after their request in flight is answered.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
  });

  app.setErrorHandler(answerUnexpectedError);
  registerHealth(app, options.database);
  const { refusedTokens } = options;
  if (options.authenticate) {
    registerBearerAuth(app, '/graphql', options.authenticate, refusedTokens && ((error, request) => refusedTokens.record(error, { requestId: request.id, endpoint: 'graphql' })));
  }
  await registerGraphqlRateLimit(app, '/graphql', config.graphqlRateLimit);
  await options.routes?.(app);
  await registerGraphql(app, {
    schema: options.schema,
    production: config.nodeEnv === 'production',
    createContext: options.createContext,
    ...(options.plugins && { plugins: options.plugins }),
    resourceMetadataUrl: `${config.issuer}/.well-known/oauth-protected-resource/graphql`,
  });
  return app;
}

/**
 * Errors no route answered itself: a prepared answer is sent as built; a client error keeps its status and Fastify's message (bad
 * JSON, a body too large); an unreachable database is a 503 with Retry-After; anything else is a
 * 500 whose detail goes to the log only.
 */
function answerUnexpectedError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? 500;
  // A plugin's prepared answer (the rate limit's GraphQL error) is sent as it was built.
  if (!(error instanceof Error)) {
    const { statusCode: _, ...body } = error as { statusCode?: number };
    return reply.code(status).send(body);
  }
  if (status < 500) return reply.code(status).send({ error: error.code ?? 'bad_request', message: error.message });
  if (isDatabaseUnavailable(error)) {
    request.log.warn({ err: error }, 'database unreachable');
    return reply.code(503).header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS)).send({ error: 'temporarily_unavailable', message: 'Service unavailable; retry later' });
  }
  request.log.error({ err: error }, 'unexpected error');
  return reply.code(500).send({ error: 'server_error', message: 'Internal server error' });
}
