import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import type { Config } from '../config.js';
import type { Logger } from '../shared/logger.js';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../db/availability.js';
import type { DatabaseHandle } from '../db/connect.js';
import type { Context } from '../graphql/context.js';
import type { RefusedTokenRecorder } from '../audit/refused-token-recorder.js';
import type { AuditWriter } from '../audit/audit.writer.js';
import { authorizationServerMetadataPath, resourceMetadataPath, resourceMetadataUrl } from '../oauth/discovery.js';
import { registerBearerAuth, routedUnder, type Authenticate, type ProtectedRoute } from './bearer.js';
import { registerCors } from './cors.js';
import { allowedMethods } from './allowed-methods.js';
import { refuseContentCodings } from './content-coding.js';
import { fieldLines } from './field-lines.js';
import { limitConnections } from './connections.js';
import { boundUnreadAnswers } from './unread-answers.js';
import { answerUnreadableRequest } from './unreadable-requests.js';
import { createDatabaseOutageLog, type DatabaseOutageLog } from './database-outage.js';
import { registerGraphql } from './graphql.js';
import { registerRateLimit } from './rate-limit.js';
import { registerHealth } from './health.js';
import { countOperations, countRequest, registerMetrics } from './metrics.js';
import type { HubMetrics } from '../metrics/hub-metrics.js';

/** Largest request body accepted, in bytes: ample for any GraphQL document within the limits. */
export const BODY_LIMIT = 128 * 1024;

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The routes that act for the caller of a bearer token: GraphQL, the two exports and the metrics. */
export const PROTECTED_ROUTES: readonly ProtectedRoute[] = [
  { prefix: '/graphql', endpoint: 'graphql', answer: 'graphql' },
  { prefix: '/users/', endpoint: 'data-export', answer: 'oauth' },
  { prefix: '/audiences/', endpoint: 'audience-export', answer: 'oauth' },
  // Reads no personal data: its refused tokens are not audited, and it is served while audit events wait.
  { prefix: '/metrics', answer: 'oauth' },
];

/** The routes whose requests count against their caller's allowance: GraphQL and the exports, which read personal data. */
const RATE_LIMITED_ROUTES: readonly ProtectedRoute[] = PROTECTED_ROUTES.filter((route) => route.endpoint);

/** Every route whose requests may record audit events through the buffered writer. */
const AUDITED_PREFIXES: readonly string[] = [...PROTECTED_ROUTES.flatMap((route) => (route.endpoint ? [route.prefix] : [])), '/oauth/'];

/** Seconds a client is asked to wait while audit events are waiting to be written. */
const AUDIT_RETRY_AFTER_SECONDS = 1;

/** How long a closing server lets requests in flight finish before it cuts their connections. */
export const CLOSE_GRACE_MS = 10_000;

export interface HttpServerOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: DatabaseHandle;
  readonly schema: GraphQLSchema;
  readonly createContext: (request: FastifyRequest) => Promise<Context>;
  /** Resolves bearer tokens on the protected routes; without it every caller is anonymous. */
  readonly authenticate?: Authenticate;
  /** The buffered audit writer: while it is backlogged, routes that record events answer 503. */
  readonly audit?: Pick<AuditWriter, 'backlogged'>;
  /** Audits the delegated tokens `authenticate` refused (once per token). */
  readonly refusedTokens?: Pick<RefusedTokenRecorder, 'record'>;
  /** The hub's metrics: every request is counted, and `GET /metrics` serves them. */
  readonly metrics?: HubMetrics;
  /** Further Apollo plugins. */
  readonly plugins?: readonly ApolloServerPlugin<Context>[];
  /** Further routes (OAuth, JWKS), registered before GraphQL. */
  readonly routes?: (app: FastifyInstance) => Promise<void>;
}

/** The HTTP server: GraphQL, health, readiness, metrics and the routes given. Not yet listening. */
export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const { config } = options;
  // Once closing, every response ends its connection, so keep-alive clients cannot hold the
  // shutdown open after their request in flight is answered (see preClose below). Every answer is
  // held to the type it declares (nosniff): errors and the 404 echo what a caller sent, which a
  // browser must never read as a page of the hub's origin.
  let closing = false;
  const stampReply = (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
    if (closing) reply.header('connection', 'close');
    return reply;
  };
  const outage = createDatabaseOutageLog(options.logger, () => options.database.ping(1_000));
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
    // A request must arrive whole within 30 s, its headers within 10 s, checked every 2 s: Node's
    // own defaults (60 s for headers, checked every 30 s) let a client trickling a body a byte at a
    // time hold its connection for about 95 s.
    requestTimeout: 30_000,
    // Host is checked below, where the refusal is answered as every other one.
    http: { headersTimeout: 10_000, connectionsCheckingInterval: 2_000, requireHostHeader: false },
    clientErrorHandler: answerUnreadableRequest,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Answered before any hook runs, so stamped and counted here as the hooks do every other answer.
    frameworkErrors: (error, request, reply) => {
      answerRouterRefusal(error, request, stampReply(request, reply), outage);
      if (options.metrics) countRequest(options.metrics, request, reply);
    },
  });
  limitConnections(app, config.maxConnections, options.logger);
  // What is still open CLOSE_GRACE_MS after closing began is cut: Node stops timing requests out
  // once its server closes, so one client stalled mid-request would otherwise hold the close, and
  // the audit events behind it, for good.
  let cutOff: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    cutOff = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS).unref();
  });
  app.addHook('onClose', async () => {
    clearTimeout(cutOff);
    outage.stop();
  });
  app.addHook('onSend', async (request, reply) => {
    stampReply(request, reply);
  });

  app.addHook('onRequest', async (request, reply) => {
    if (!hasOneHost(request)) return sendError(request, reply.code(400).header('cache-control', 'no-store').header('connection', 'close'), 'BAD_USER_INPUT', 'invalid_request', 'an HTTP/1.1 request names its host in one Host field');
  });

  refuseContentCodings(app);

  app.setErrorHandler((error: FastifyError, request, reply) => answerUnexpectedError(error, request, reply, outage));
  // Fastify's own would log the whole URL, query values and all (a client_secret sent in one): the
  // request line is already logged by its path, so this one logs nothing more.
  app.setNotFoundHandler((request, reply) => answerNoRoute(app, request, reply));
  // Before the bearer check, so a 401 carries the CORS headers a browser needs to read it.
  await registerCors(app, config.corsOrigins, [authorizationServerMetadataPath(config), resourceMetadataPath(config)]);
  registerHealth(app, options.database, options.audit);
  if (options.metrics) registerMetrics(app, options.metrics, resourceMetadataUrl(config));
  const { audit } = options;
  if (audit) {
    // An audit trail of every access: while the writer is behind, a request that would read or
    // change data, or be refused at the bearer check, is not served, since its event might be lost.
    app.addHook('onRequest', async (request, reply) => {
      if (audit.backlogged && AUDITED_PREFIXES.some((prefix) => routedUnder(request, prefix))) return sendUnavailable(request, reply, AUDIT_RETRY_AFTER_SECONDS);
    });
  }
  boundUnreadAnswers(app, config.maxUnreadAnswersMib);
  const { refusedTokens } = options;
  if (options.authenticate) {
    registerBearerAuth(app, {
      routes: PROTECTED_ROUTES,
      authenticate: options.authenticate,
      resourceMetadataUrl: resourceMetadataUrl(config),
      // Refusals at the rate of anonymous GraphQL requests: the rate limit, which comes after,
      // would have counted them so had they reached it.
      refusalsPerSecond: config.graphqlRateLimit,
      ...(refusedTokens && { onRefused: (error, request, endpoint) => refusedTokens.record(error, { requestId: request.id, endpoint }) }),
    });
  }
  await registerRateLimit(app, RATE_LIMITED_ROUTES, config.graphqlRateLimit);
  await options.routes?.(app);
  await registerGraphql(app, {
    schema: options.schema,
    production: config.nodeEnv === 'production',
    createContext: options.createContext,
    plugins: [...(options.metrics ? [countOperations(options.metrics)] : []), ...(options.plugins ?? [])],
    resourceMetadataUrl: resourceMetadataUrl(config),
    databaseOutage: outage,
  });
  return app;
}

/**
 * Errors no route answered itself: a prepared answer is sent as built; a client error keeps its
 * status and Fastify's message (bad JSON, a body too large), as `invalid_request`; an unreachable
 * database is a 503 with Retry-After, reported to the outage's log; anything else is a 500 whose
 * detail goes to the log only. Each is shaped as `sendError` answers on its route.
 */
function answerUnexpectedError(error: FastifyError, request: FastifyRequest, reply: FastifyReply, outage: DatabaseOutageLog) {
  const status = error.statusCode ?? 500;
  // A plugin's prepared answer (the rate limit's GraphQL error) is sent as it was built.
  if (!(error instanceof Error)) {
    const { statusCode: _, ...body } = error as { statusCode?: number };
    return reply.code(status).send(body);
  }
  // Fastify's own code (FST_ERR_CTP_INVALID_JSON_BODY) names its internals, not the request's fault.
  if (status < 500) return sendError(request, reply.code(status), 'BAD_USER_INPUT', 'invalid_request', error.message);
  if (isDatabaseUnavailable(error)) {
    outage.failed(error, request.id);
    return sendUnavailable(request, reply, DATABASE_RETRY_AFTER_SECONDS);
  }
  request.log.error({ err: error }, 'unexpected error');
  return sendError(request, reply.code(500), 'INTERNAL_SERVER_ERROR', 'server_error', 'Internal server error');
}

/**
 * A request no route takes. A path some route takes, asked with a method none of them takes, is
 * 405 `method_not_allowed` with the methods they take in Allow (RFC 9110 §15.5.6, which makes
 * Allow a MUST), in the shape of that path's family (a GraphQL error on `/graphql`, as Apollo
 * answers the methods it refuses): a 404 would tell a client that used the wrong method that the
 * endpoint does not exist. Any other path is 404 `not_found`. Each names the path, never the
 * query, and is not stored.
 */
function answerNoRoute(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
  // The path as the router read it: up to a `#` as well as a `?`. What follows a `#` it never
  // decoded, and a malformed escape there (`/oauth/token#%ff`) would fail decodeURI below as a 500.
  const path = request.url.split(/[?#]/, 1)[0]!;
  const named = path.slice(0, 256);
  const allowed = allowedMethods(app, path);
  reply.header('cache-control', 'no-store');
  if (allowed.length === 0) return sendError(request, reply.code(404), 'BAD_USER_INPUT', 'not_found', `no route ${request.method} ${named}`);
  // The family of the path the router reads, as `routedUnder` tells it of a matched route (`/%67raphql` is `/graphql`).
  const under = (prefix: string) => decodeURI(path).startsWith(prefix);
  const methods = allowed.join(', ');
  return sendError(request, reply.code(405).header('allow', methods), 'BAD_USER_INPUT', 'method_not_allowed', `${named} takes ${methods}, not ${request.method}`, under);
}

/** The words of the router's refusals (`frameworkErrors`), by Fastify's code. */
const ROUTER_REFUSALS: Readonly<Record<string, string>> = {
  FST_ERR_BAD_URL: 'the path is not percent-encoded UTF-8',
  FST_ERR_MAX_PARAM_LENGTH: 'an id in the path is too long',
};

/**
 * The router's refusals, made before a route is found: a path that does not decode (`%ff`), or a
 * parameter (an id) past the router's longest (maxParamLength, 100 characters). Fastify's own body
 * echoes the URL, query values and all, and names its internals; this one is the 400
 * `invalid_request` of the routes' family (no route matched, so RFC 6749 §5.2's shape, not stored,
 * as the not-found handler answers), and anything else the router raises an unexpected error.
 */
function answerRouterRefusal(error: FastifyError, request: FastifyRequest, reply: FastifyReply, outage: DatabaseOutageLog) {
  const description = ROUTER_REFUSALS[error.code];
  if (description === undefined) return answerUnexpectedError(error, request, reply.header('cache-control', 'no-store'), outage);
  return sendError(request, reply.code(400).header('cache-control', 'no-store'), 'BAD_USER_INPUT', 'invalid_request', description);
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host field (one of HTTP/1.0 at most one),
 * and a server MUST answer 400 to any other. Node refuses one without in a body of its own, and of
 * several takes the first, where a proxy in front may have taken another.
 */
function hasOneHost(request: FastifyRequest): boolean {
  const hosts = fieldLines(request, 'host');
  return hosts === 1 || (hosts === 0 && request.raw.httpVersion === '1.0');
}

/** 503 with Retry-After: the service cannot answer now, and will soon. */
function sendUnavailable(request: FastifyRequest, reply: FastifyReply, retryAfterSeconds: number) {
  reply.code(503).header('retry-after', String(retryAfterSeconds));
  return sendError(request, reply, 'INTERNAL_SERVER_ERROR', 'temporarily_unavailable', 'Service unavailable; retry later');
}

/**
 * An error in the shape the route answers its own errors in: a GraphQL response (`errors` with a
 * code of API.md) on `/graphql`; elsewhere RFC 6749 §5.2's `error` and `error_description`, as the
 * OAuth endpoints and the exports' own refusals have them, with the no-store every answer of the
 * OAuth endpoints carries (§5.1), which this one may be sent before the route has set it. The
 * route is the one matched, unless `under` tells the family of a request no route matched.
 */
function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  code: 'BAD_USER_INPUT' | 'INTERNAL_SERVER_ERROR',
  name: string,
  message: string,
  under: (prefix: string) => boolean = (prefix) => routedUnder(request, prefix),
) {
  if (under('/graphql')) return reply.send({ errors: [{ message, extensions: { code } }] });
  if (under('/oauth/')) reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  return reply.send({ error: name, error_description: message });
}
