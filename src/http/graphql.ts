import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { NoSchemaIntrospectionCustomRule, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { isOperator } from '../authz/principal.js';
import type { Context } from '../graphql/context.js';
import { HubError } from '../shared/errors.js';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../db/availability.js';
import { bearerChallenge, routedUnder } from './bearer.js';
import type { DatabaseOutageLog } from './database-outage.js';
import { formatError, isUnexpectedError } from './format-error.js';
import { unquotedVariableRefusals } from './variable-refusals.js';
import { boundedDocumentStore } from './graphql-documents.js';
import { boundedAnswerSize } from './graphql-answer-size.js';
import { COST_OPTIONS, MAX_COST, pageCost } from './graphql-cost.js';
import { compilingExecutor } from './graphql-jit.js';
import { NO_PERSISTED_QUERIES, callerPersistedQueries } from './persisted-queries.js';
import { runnableOperation } from './graphql-operation.js';
import { refuseUnstorableText } from './unstorable-text.js';
import { EXPORT_STALL_TIMEOUT_MS, cutOffWhenStalled } from './released-body.js';

/** Limits on what one GraphQL document may ask, enforced before any resolver runs. */
export const GRAPHQL_LIMITS = Object.freeze({
  maxDepth: 10,
  maxAliases: 15,
  maxTokens: 2_000,
  maxDirectives: 20,
  maxCost: MAX_COST,
});

export interface GraphqlOptions {
  readonly schema: GraphQLSchema;
  readonly production: boolean;
  readonly createContext: (request: FastifyRequest) => Promise<Context>;
  /** Further Apollo plugins (the audit of reads). */
  readonly plugins?: readonly ApolloServerPlugin<Context>[];
  /** Where this resource's RFC 9728 metadata is, for the Bearer challenge of a request without a token. */
  readonly resourceMetadataUrl?: string;
  /** Where an operation the database could not serve is reported. */
  readonly databaseOutage: DatabaseOutageLog;
}

/** Mounts Apollo Server on `/graphql` (POST, and GET for queries). */
export async function registerGraphql(app: FastifyInstance, options: GraphqlOptions): Promise<ApolloServer<Context>> {
  const armor = new ApolloArmor({
    maxDepth: { n: GRAPHQL_LIMITS.maxDepth },
    maxAliases: { n: GRAPHQL_LIMITS.maxAliases },
    // graphql-js counts tokens while parsing (parseOptions below), which answers 400, not 500.
    maxTokens: { enabled: false },
    maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives },
    // Literal page sizes count here; variable, null and left-out ones in pageCost below.
    costLimit: { ...COST_OPTIONS },
    // Suggestions are stripped in formatError, for every request error alike.
    blockFieldSuggestion: { enabled: false },
  }).protect();

  const apollo = new ApolloServer<Context>({
    gateway: compilingExecutor(options.schema),
    formatError,
    parseOptions: { maxTokens: GRAPHQL_LIMITS.maxTokens },
    // Apollo's own store counts a document's nodes alone, not the text and tokens it keeps.
    documentStore: boundedDocumentStore(),
    validationRules: armor.validationRules,
    allowBatchedHttpRequests: false,
    // Kept per caller by callerPersistedQueries below, never in Apollo's store shared by all.
    persistedQueries: { cache: NO_PERSISTED_QUERIES },
    // `hub serve` stops on SIGTERM itself (src/cli/serve.ts): Apollo's own handler would re-send the
    // signal once Apollo alone has stopped, ending the process before the audit trail is written.
    stopOnTerminationSignals: false,
    csrfPrevention: true,
    includeStacktraceInErrorResponses: false,
    // Compact JSON: Apollo's default pretty-prints every response.
    stringifyResult: (result) => JSON.stringify(result),
    // Introspection is decided per request by introspectionGuard below.
    introspection: true,
    plugins: [
      // graphql-armor is typed against Apollo's CommonJS build; the plugins are the same objects.
      ...(armor.plugins as unknown as ApolloServerPlugin<Context>[]),
      callerPersistedQueries(),
      runnableOperation(),
      introspectionGuard(options.schema, options.production),
      pageCost(options.schema),
      boundedAnswerSize(),
      refuseUnstorableText(),
      errorLogger(app.log, options.databaseOutage),
      unquotedVariableRefusals(),
      databaseUnavailable(),
      ...(options.resourceMetadataUrl ? [challengeAnonymous(options.resourceMetadataUrl)] : []),
      drainOperations(),
      ...(options.plugins ?? []),
      // The hub sets no cache hints; the plugin would otherwise run on every field.
      ApolloServerPluginCacheControlDisabled(),
      ...(options.production ? [ApolloServerPluginLandingPageDisabled()] : []),
    ],
  });
  await apollo.start();
  app.addHook('onClose', () => apollo.stop());
  // Answers carry personal data, and signIn, signUp and registerAgent tokens and secrets: never
  // kept by a cache (RFC 6749 §5.1 asks the same of token responses, RFC 9111 §5.2.2.5).
  // An answer is written whole at once, then waits in the hub's memory until its reader takes it:
  // one whose connection moves no byte for as long as an export's may not is cut off, as an export
  // is, so a client that stops reading cannot hold answers (megabytes each) for as long as it likes.
  // Set as the answer is sent, so a slow resolver is never cut off for the time it takes.
  app.addHook('onSend', async (request, reply) => {
    if (!routedUnder(request, '/graphql')) return;
    reply.header('cache-control', 'no-store');
    cutOffWhenStalled(request, reply, EXPORT_STALL_TIMEOUT_MS);
  });
  // No HEAD route beside GET, as Fastify would add: Apollo refuses HEAD (405, GET and POST only),
  // and the not-found handler's 405 answers it alike, while every 405 of the path, read from the
  // router, then names what Apollo takes. OPTIONS stays Apollo's: CORS answers preflights first,
  // and Apollo refuses any other.
  app.route({ method: ['GET', 'POST', 'OPTIONS'], url: '/graphql', exposeHeadRoute: false, handler: fastifyApolloHandler(apollo, { context: options.createContext }) });
  return apollo;
}

/**
 * In production, only operator clients may introspect the schema. Apollo reuses the parsed
 * document of a query it has seen, so the answer is kept per document.
 */
function introspectionGuard(schema: GraphQLSchema, production: boolean): ApolloServerPlugin<Context> {
  const introspects = new WeakMap<DocumentNode, boolean>();
  const asksIntrospection = (document: DocumentNode) => {
    let answer = introspects.get(document);
    if (answer === undefined) introspects.set(document, (answer = validate(schema, document, [NoSchemaIntrospectionCustomRule]).length > 0));
    return answer;
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, contextValue }) {
          if (!production || isOperator(contextValue.principal)) return;
          if (asksIntrospection(document)) {
            throw new HubError('FORBIDDEN', 'Introspection is only open to operator clients', { reason: 'MISSING_SCOPE', http: { status: 403 } });
          }
        },
      };
    },
  };
}

/**
 * Logs the detail of every error formatError masks, under the request id the client saw, by the
 * key Fastify gives it on the request's other lines (`reqId`); the errors of a database that could
 * not be reached (answered 503, see databaseUnavailable) are reported once to the outage's log
 * instead, and the request's other errors are logged as ever.
 */
function errorLogger(log: FastifyBaseLogger, outage: DatabaseOutageLog): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          const reqId = contextValue?.requestId;
          let unavailable: unknown;
          for (const error of errors) {
            const cause = error.originalError ?? error;
            if (isDatabaseUnavailable(cause)) unavailable ??= cause;
            else if (isUnexpectedError(error)) log.error({ err: cause, reqId }, 'graphql error');
          }
          if (unavailable) outage.failed(unavailable, reqId);
        },
      };
    },
  };
}

/**
 * RFC 6750 §3: an answer to a request without a token that refused something for want of one
 * carries the Bearer challenge, naming the resource's metadata (RFC 9728 §5.1), where a client
 * finds the authorization server to get a token from. The status stays 200: the rest of the
 * document may have been answered.
 */
function challengeAnonymous(resourceMetadataUrl: string): ApolloServerPlugin<Context> {
  const challenge = bearerChallenge(resourceMetadataUrl);
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response }) {
          if (request.http?.headers.has('authorization')) return;
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          if (errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED')) response.http.headers.set('www-authenticate', challenge);
        },
      };
    },
  };
}

/**
 * An operation that failed because the database cannot be reached answers 503 with
 * Retry-After, so clients and load balancers retry instead of taking the partial answer.
 */
function databaseUnavailable(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      let down = false;
      return {
        async didEncounterErrors({ errors }) {
          down ||= errors.some((error) => isDatabaseUnavailable(error.originalError ?? error));
        },
        async willSendResponse({ response }) {
          if (!down) return;
          response.http.status = 503;
          response.http.headers.set('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
        },
      };
    },
  };
}

/** How long stopping waits for operations still running, whose clients may be gone already. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Lets `stop()` wait for every operation still running, including those whose client has
 * disconnected: the server has closed their sockets, but their resolvers and response hooks (the
 * audit of reads) still run, and must finish before the database closes.
 */
function drainOperations(): ApolloServerPlugin<Context> {
  let running = 0;
  let idle: (() => void) | undefined;
  const finished = () => {
    if (--running === 0) idle?.();
  };
  return {
    async serverWillStart() {
      return {
        async drainServer() {
          if (running === 0) return;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, DRAIN_TIMEOUT_MS);
            idle = () => (clearTimeout(timer), resolve());
          });
        },
      };
    },
    async requestDidStart() {
      running++;
      let done = false;
      const end = async () => {
        if (!done) (done = true), finished();
      };
      return { willSendResponse: end, didEncounterSubsequentErrors: end };
    },
  };
}
