import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decideMetricsAccess, METRICS_SCOPE } from '../authz/metrics-access.js';
import type { Context } from '../graphql/context.js';
import { UNMATCHED_ROUTE, type HubMetrics } from '../metrics/hub-metrics.js';
import { bearerChallenge, refuseWithChallenge, type BearerRefusal } from './bearer.js';
import { answerHeadersOnly } from './head.js';

/**
 * Counts every answered request by method, route pattern (`/audiences/:id/export`, never the path
 * with its ids; `unmatched` for none) and status, with its duration; and serves `GET /metrics`,
 * Prometheus's text format, to a bearer token holding `audit:read`, as Prometheus gets one with
 * its `oauth2` scrape option (client credentials). Steps, each refusing by default: a bearer token
 * (401), one the hub accepts (401 invalid_token, at the bearer check), the scope (403
 * insufficient_scope); then the metrics, never stored by a cache. A scrape reads no personal data
 * and is not audited. A HEAD makes the same checks and answers the headers, scraping nothing.
 */
export function registerMetrics(app: FastifyInstance, metrics: HubMetrics, resourceMetadataUrl: string): void {
  const { registry } = metrics;
  // A callback hook, not an async one: no promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    countRequest(metrics, request, reply);
    done();
  });
  // An answer cut off before its end (a streamed export whose reader left, or stalled and was cut
  // off) fires no onResponse: it is counted when its connection closes, with the time until then;
  // one whose client left before it was ready (closed already, so no 'close' comes) as it is sent.
  app.addHook('onSend', (request, reply, _payload, done) => {
    if (reply.raw.destroyed) countRequest(metrics, request, reply);
    else reply.raw.once('close', () => reply.raw.writableFinished || countRequest(metrics, request, reply));
    done();
  });

  const challenge = (refusal?: BearerRefusal) => bearerChallenge(resourceMetadataUrl, refusal);
  app.get('/metrics', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const { principal } = request;
    if (principal.kind === 'anonymous') return refuseWithChallenge(reply, 401, challenge(), 'unauthorized', 'a bearer token is required');
    if (!decideMetricsAccess(principal).allowed) {
      return refuseWithChallenge(reply, 403, challenge({ error: 'insufficient_scope', scope: METRICS_SCOPE }), 'insufficient_scope', `${METRICS_SCOPE} is required`);
    }
    reply.header('content-type', registry.contentType);
    // Answered from the checks alone: Fastify's HEAD route would scrape to nowhere, and a scrape
    // is read once (prom-client forgets the event loop's delays it reports; the webhook backlog is
    // counted on the database), so the next GET would miss what came before the HEAD.
    if (request.method === 'HEAD') return answerHeadersOnly(reply);
    return reply.send(await registry.metrics());
  });
}

/** The replies counted: an answer whose response fails ('error') is also cut off ('close'). */
const counted = new WeakSet<FastifyReply>();

/**
 * Counts one answered request with its duration so far, once. Called once the answer is sent or
 * cut off: by the hooks above, and for the router's refusals (`frameworkErrors`), which no hook sees.
 */
export function countRequest(metrics: HubMetrics, request: FastifyRequest, reply: FastifyReply): void {
  if (counted.has(reply)) return;
  counted.add(reply);
  const labels = { method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status_code: reply.statusCode };
  metrics.httpRequests.inc(labels);
  metrics.httpRequestDuration.observe(labels, reply.elapsedTime / 1_000);
}

/**
 * Counts every GraphQL request Apollo answers by its operation type (`unknown` for one that never
 * resolved to an operation: a document that does not parse or validate) and outcome: `error` when
 * the answer carries any error, a field refused included, else `ok`. One listener serves every
 * request, so counting adds no object per request.
 */
export function countOperations(metrics: HubMetrics): ApolloServerPlugin<Context> {
  const { graphqlOperations } = metrics;
  const listener: GraphQLRequestListener<Context> = {
    async willSendResponse({ operation, response }) {
      const errors = response.body.kind === 'single' ? response.body.singleResult.errors : response.body.initialResult.errors;
      graphqlOperations.inc({ operation: operation?.operation ?? 'unknown', outcome: errors?.length ? 'error' : 'ok' });
    },
  };
  return { requestDidStart: async () => listener };
}
