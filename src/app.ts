import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from './config.js';
import { waitForDatabase } from './db/availability.js';
import { openConfiguredDatabase, type DatabaseHandle, type Db } from './db/connect.js';
import { migrateToLatest } from './db/migrator.js';
import type { Listen } from './db/notifications.js';
import type { Context } from './graphql/context.js';
import { schema } from './graphql/schema.js';
import { ensureBootstrapClient, type BootstrapCredentials } from './agents/agent-bootstrap.js';
import { createAgentService, type AgentService } from './agents/agent.service.js';
import { AccessRecorder } from './audit/access-recorder.js';
import { auditReadsPlugin } from './audit/audit.plugin.js';
import { AuditWriter } from './audit/audit.service.js';
import type { AuditWriterOptions } from './audit/audit.writer.js';
import { RefusedTokenRecorder } from './audit/refused-token-recorder.js';
import { approvalRetention } from './consent/approval.service.js';
import { createConsentService, type ConsentService } from './consent/consent.service.js';
import { createPurposeRegistry, type PurposeRegistry } from './consent/purpose-registry.js';
import { registerOAuthRoutes } from './http/oauth.js';
import { limitAudienceReads, type AudienceReads } from './audiences/audience.reads.js';
import { registerAudienceRoutes } from './audiences/audience.routes.js';
import { buildHttpServer } from './http/server.js';
import { createIdentityService, type IdentityService } from './identity/identity.service.js';
import { createErasureService, type ErasureService } from './privacy/erasure.service.js';
import { registerExportRoutes } from './privacy/export.routes.js';
import { resolveKeyEncryptionKey } from './oauth/key-encryption.js';
import { KeyStore } from './oauth/key-store.js';
import { createTokenService, type TokenService } from './oauth/token.service.js';
import { resolvedWithin } from './shared/deadline.js';
import { createHousekeeping } from './shared/housekeeping.js';
import { systemClock, type Clock } from './shared/clock.js';
import { createLogger, type Logger } from './shared/logger.js';
import { createHubMetrics, observeAtScrape, type HubMetrics } from './metrics/hub-metrics.js';
import { endDeliveriesAboutErasedUser, enqueueWebhookEvent } from './webhooks/webhook-outbox.js';
import { createWebhookService, webhookMessageRetention, type WebhookService } from './webhooks/webhook.service.js';

/** The domain services every request can reach through its context. */
export interface Services {
  readonly config: Config;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly keys: KeyStore;
  readonly tokens: TokenService;
  readonly identity: IdentityService;
  readonly agents: AgentService;
  readonly consents: ConsentService;
  /** The purposes consents are given for, every version; cached while LISTEN tells of changes. */
  readonly purposes: PurposeRegistry;
  /** Webhook subscriptions, their delivery log, and delivery workers. */
  readonly webhooks: WebhookService;
  readonly erasure: ErasureService;
  /** Buffered writer for events that record reads; state changes audit in their own transaction. */
  readonly audit: AuditWriter;
  /** This hub's counters and gauges, on a registry of its own. */
  readonly metrics: HubMetrics;
  /** The turns of this instance's statements over whole audiences (pages, counts, export batches), per client. */
  readonly audienceReads: AudienceReads;
}

export interface HubOptions {
  readonly database?: DatabaseHandle;
  readonly logger?: Logger;
  /** The time source of every service; tests freeze or move it. */
  readonly clock?: Clock;
  /** How the buffered audit writer batches and how far it may fall behind; tests slow it down. */
  readonly audit?: AuditWriterOptions;
  /** Milliseconds between passes of the housekeeping (HOUSEKEEPING_EVERY_MS by default); tests hurry it. */
  readonly housekeepingEveryMs?: number;
}

export interface Hub {
  readonly config: Config;
  readonly database: DatabaseHandle;
  readonly services: Services;
  readonly http: FastifyInstance;
  /**
   * The operator client this start created on a database that never had one: to be shown once
   * (`hub serve` prints it), never stored in the clear. Undefined on every other start.
   */
  readonly bootstrapCredentials: BootstrapCredentials | undefined;
  /** Starts listening on the configured host and port; resolves to the address. */
  listen(): Promise<string>;
  /** Stops accepting, finishes requests in flight, then closes the database. */
  close(): Promise<void>;
}

/**
 * The one wiring point: database → services → schema → HTTP. Waits for the database (bounded by
 * `dbConnectTimeout`) and migrates it before anything else runs.
 */
export async function createHub(config: Config, options: HubOptions = {}): Promise<Hub> {
  const { database = openConfiguredDatabase(config, { statementTimeoutMs: config.statementTimeout * 1_000 }), logger = createLogger(config), clock = systemClock } = options;
  // Until the hub is returned, a failing step (an unreachable database, a refused key file, a
  // wrong key, a bootstrap client naming an agent) undoes what the start opened, latest first: the
  // process may go on (a test run, an embedder), and would keep the database, its connections or
  // the embedded folder's lock, against that folder's next opening among others.
  const undo: (() => unknown)[] = [() => database.close()];
  try {
    await waitForDatabase(database, config.dbConnectTimeout, (error, delayMs) =>
      logger.warn(`database not reachable (${error.message}); retrying in ${delayMs} ms`),
    );
    await migrateToLatest(database.db, { onLockWait: (message) => logger.warn(message) });
    const services = await createServices(config, database, logger, clock, database.listen, options.audit);
    undo.unshift(() => services.keys.close());
    const webhookWorker = config.webhookWorker ? services.webhooks.createWorker({ listen: database.listen }) : undefined;
    webhookWorker?.start();
    if (webhookWorker) undo.unshift(() => webhookWorker.stop());
    const bootstrapCredentials = await ensureBootstrapClient(database.db, config.bootstrapClient, clock.now());
    if (bootstrapCredentials) {
      logger.warn(`created the operator client ${bootstrapCredentials.clientId}; its secret is shown once by \`hub serve\` and never again`);
    }
    if (!config.auditReads) logger.warn('HUB_AUDIT_READS=false: reads of profile data are not audited');
    observeAtScrape(services.metrics, { pools: database.pools, pendingWebhookDeliveries: services.webhooks.countPendingDeliveries });

    const createContext = async (request: FastifyRequest): Promise<Context> => ({
      requestId: request.id,
      address: request.ip,
      principal: request.principal,
      services,
      access: new AccessRecorder(),
    });
    const http = await buildHttpServer({
      config,
      logger,
      database,
      schema,
      createContext,
      authenticate: (token) => services.tokens.authenticateInSteps(token),
      audit: services.audit,
      refusedTokens: new RefusedTokenRecorder(services.audit, { clock, logger }),
      metrics: services.metrics,
      routes: async (app) => {
        await registerOAuthRoutes(app, services);
        await registerAudienceRoutes(app, services);
        await registerExportRoutes(app, services);
      },
      plugins: config.auditReads ? [auditReadsPlugin()] : [],
    });

    // Started once nothing of the start can fail any more, so that a failed start leaves no timer.
    const housekeeping = createHousekeeping({ clock, logger, retentions: [approvalRetention(database.db), webhookMessageRetention(database.db), ...services.tokens.retentions, ...services.identity.retentions], everyMs: options.housekeepingEveryMs });
    housekeeping.start();

    let closing: Promise<void> | undefined;
    return {
      config,
      database,
      services,
      http,
      bootstrapCredentials,
      listen: () => http.listen({ host: config.host, port: config.port }),
      // Each step that waits on the database is bounded (the audit writer bounds its own): one
      // partitioned away answers nothing, ever, and a close that never ends is ended by a kill. The
      // requests' audit events are written first; deliveries audit in their own transactions, and
      // those in flight are let finish their longest send (three timeouts, see the sender) and
      // record it.
      close: () =>
        (closing ??= http
          .close()
          .then(() => services.audit.close())
          .then(() => webhookWorker && withinDeadline(webhookWorker.stop(), 'stopping the webhook worker', logger, (3 * config.webhookTimeout + 5) * 1_000))
          .then(() => withinDeadline(housekeeping.stop(), 'stopping the housekeeping', logger))
          .then(() => services.keys.close())
          .then(() => withinDeadline(database.close(), 'closing the database', logger))),
    };
  } catch (error) {
    for (const step of undo) await Promise.resolve().then(step).catch(() => {});
    throw error;
  }
}

/** The longest a step of closing waits on the database before the close goes on without it. */
const CLOSE_DATABASE_DEADLINE_MS = 10_000;

/** Waits for `step` up to `deadlineMs`, then logs that it did not end and resolves; rejects as it does. */
async function withinDeadline(step: Promise<unknown>, what: string, logger: Logger, deadlineMs = CLOSE_DATABASE_DEADLINE_MS): Promise<void> {
  if (!(await resolvedWithin(step, deadlineMs))) logger.warn(`closing: ${what} did not end within ${deadlineMs} ms; going on without it`);
}

/**
 * Builds every service on an open, migrated database.
 * @param checks The same database, for the token check of every request (`DatabaseHandle.checks`).
 * @param listen LISTEN on that database, for caches that other instances' changes must clear;
 *   without it nothing is cached across requests.
 * @param audit The buffered audit writer's batching and backlog, when not its defaults.
 */
async function createServices(config: Config, { db, checks }: Pick<DatabaseHandle, 'db' | 'checks'>, logger: Logger, clock: Clock, listen?: Listen, audit?: AuditWriterOptions): Promise<Services> {
  const keys = await KeyStore.open(db, resolveKeyEncryptionKey(config), clock, config.accessTokenTtl, logger);
  const tokens = createTokenService({ config, keys, clock, db, checks });
  const identity = createIdentityService({ db, tokens, clock });
  // Agents and consents need each other: decommissioning an agent withdraws its consents, and
  // giving a consent checks the agent. The effects are called only after both exist.
  const agents = createAgentService({
    db,
    clock,
    identity,
    ...(listen && { listen }),
    effects: {
      withdrawConsentsOfAgent: (tx, agentId, caller, now) => consents.withdrawAllForAgent(tx, agentId, caller, now),
      revokeRefreshTokensOfAgent: tokens.revokeRefreshTokensOfAgent,
    },
  });
  const consents = createConsentService({
    db,
    clock,
    agents,
    identity,
    revokeRefreshTokensOfConsents: tokens.revokeRefreshTokensOfConsents,
    receipts: { ...config.controller, issuer: config.issuer, signingKey: () => keys.signingKey() },
  });
  const erasure = createErasureService({
    db,
    clock,
    consents,
    agents,
    identity,
    onErased: async (trx, result) => {
      await endDeliveriesAboutErasedUser(trx, result.userId);
      await enqueueWebhookEvent(trx, { type: 'user.erased', data: { userId: result.userId } }, result.erasedAt);
    },
  });
  const purposes = createPurposeRegistry({ db, clock, ...(listen && { listen }) });
  const webhooks = createWebhookService({ db, clock, kek: resolveKeyEncryptionKey(config), logger, config });
  return { config, db, logger, clock, keys, tokens, identity, agents, consents, purposes, webhooks, erasure, audit: new AuditWriter(db, logger, clock, audit), metrics: createHubMetrics(), audienceReads: limitAudienceReads({ turnWaitMs: config.statementTimeout * 1_000 }) };
}
