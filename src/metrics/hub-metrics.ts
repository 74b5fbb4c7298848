import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolCounts } from '../db/connect.js';
import type { ForbiddenReason } from '../shared/errors.js';

/**
 * The instruments of one hub, on a registry of its own (never prom-client's global one), so two
 * hubs in one process count apart. Every label takes values from a closed set: a route pattern,
 * a method, a status, a grant type, an error code, a reason; never an id, a user, a client, an
 * address or a token, which would make a series per caller.
 */
export interface HubMetrics {
  /** Every metric of the hub and of its process, as `GET /metrics` serves them. */
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly tokensIssued: Counter<'grant_type'>;
  readonly tokenRequestsRefused: Counter<'error'>;
  readonly graphqlOperations: Counter<'operation' | 'outcome'>;
  readonly fieldDecisions: Counter<'decision' | 'reason'>;
  /**
   * The per-field decisions counted since `fieldDecisions` was last read, by the reason of a
   * denial (undefined for an allow): a query decides hundreds of fields, and a tally is cheaper
   * than a labelled counter for each. Added to `fieldDecisions` whenever it is read (a scrape).
   */
  readonly fieldDecisionsUncollected: Map<ForbiddenReason | undefined, number>;
}

/** The `route` of a request no route took (a 404, a path the router cannot read). */
export const UNMATCHED_ROUTE = 'unmatched';

export function createHubMetrics(): HubMetrics {
  const own = new Registry();
  const registers = [own];
  const httpLabels = ['method', 'route', 'status_code'] as const;
  const fieldDecisionsUncollected = new Map<ForbiddenReason | undefined, number>();
  const metrics = {
    httpRequests: new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route pattern and status code.', labelNames: httpLabels, registers }),
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from a request arriving to its answer sent in full (a streamed export included), by method, route pattern and status code.',
      labelNames: httpLabels,
      registers,
    }),
    tokensIssued: new Counter({ name: 'oauth_tokens_issued_total', help: 'Access tokens issued at /oauth/token, by grant type.', labelNames: ['grant_type'] as const, registers }),
    tokenRequestsRefused: new Counter({ name: 'oauth_token_requests_refused_total', help: 'Requests to /oauth/token refused, by OAuth error code.', labelNames: ['error'] as const, registers }),
    graphqlOperations: new Counter({
      name: 'graphql_operations_total',
      help: 'GraphQL requests answered by Apollo, by operation type (unknown when none was resolved) and outcome (error when the answer carries any error).',
      labelNames: ['operation', 'outcome'] as const,
      registers,
    }),
    fieldDecisions: new Counter({
      name: 'authz_field_decisions_total',
      help: 'Per-field decisions on profile fields, allowed or denied, by the reason of a denial (none for an allow).',
      labelNames: ['decision', 'reason'] as const,
      registers,
      collect() {
        for (const [reason, count] of fieldDecisionsUncollected) this.inc(reason === undefined ? ALLOWED : { decision: 'deny', reason }, count);
        fieldDecisionsUncollected.clear();
      },
    }),
  };
  return { registry: Registry.merge([processRegistry(), own]), ...metrics, fieldDecisionsUncollected };
}

let processMetrics: Registry | undefined;

/**
 * prom-client's default metrics of the process (CPU, memory, heap, event loop lag, GC, handles),
 * made once per process and shared by its hubs: they describe the process, not a hub, and each
 * set starts a GC observer and an event-loop monitor that nothing can stop.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** Counts one per-field decision: allowed (`reason` undefined), or denied for `reason`. */
export function countFieldDecision(metrics: HubMetrics, reason: ForbiddenReason | undefined): void {
  const uncollected = metrics.fieldDecisionsUncollected;
  uncollected.set(reason, (uncollected.get(reason) ?? 0) + 1);
}

const ALLOWED = Object.freeze({ decision: 'allow', reason: 'none' });

/** What the gauges read at each scrape, and nowhere else. */
export interface ScrapeSources {
  /** The database's connection pools by name; none on the embedded database, which has no pool. */
  readonly pools: ReadonlyMap<string, PoolCounts>;
  /** Webhook deliveries waiting to be sent (one indexed count); left out, not measured. */
  readonly pendingWebhookDeliveries?: () => Promise<number>;
}

/**
 * Gauges read when scraped, so serving requests costs them nothing: the connections of each pool
 * (open, idle, and queries waiting for one) and the webhook deliveries waiting. A backlog that
 * cannot be counted (the database unreachable) is left out of that scrape, not shown stale, and
 * the rest of the scrape is still served.
 */
export function observeAtScrape(metrics: HubMetrics, sources: ScrapeSources): void {
  const registers = [metrics.registry];
  const poolGauge = (name: string, help: string, read: (pool: PoolCounts) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'] as const,
      registers,
      collect() {
        for (const [pool, counts] of sources.pools) this.set({ pool }, read(counts));
      },
    });
  if (sources.pools.size > 0) {
    poolGauge('db_pool_connections', 'Connections a database pool holds open, idle or in use.', (pool) => pool.totalCount);
    poolGauge('db_pool_idle_connections', 'Connections of a database pool open and idle.', (pool) => pool.idleCount);
    poolGauge('db_pool_waiting_queries', 'Queries waiting for a connection of a database pool.', (pool) => pool.waitingCount);
  }
  const { pendingWebhookDeliveries } = sources;
  if (pendingWebhookDeliveries) {
    new Gauge({
      name: 'webhook_deliveries_pending',
      help: 'Webhook deliveries waiting to be sent or retried, of every subscription.',
      registers,
      async collect() {
        try {
          this.set(await pendingWebhookDeliveries());
        } catch {
          this.remove({});
        }
      },
    });
  }
}
