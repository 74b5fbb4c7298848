import type { FastifyInstance } from 'fastify';
import { ANONYMOUS } from './authz/principal.js';
import type { Config } from './config.js';
import { openDatabase, waitForDatabase, type DatabaseHandle, type Db } from './db/connect.js';
import { migrateToLatest } from './db/migrator.js';
import type { Context } from './graphql/context.js';
import { schema } from './graphql/schema.js';
import { buildHttpServer } from './http/server.js';
import { createLogger, type Logger } from './shared/logger.js';

/** The domain services every request can reach through its context. */
export interface Services {
  readonly config: Config;
  readonly db: Db;
  readonly logger: Logger;
}

export interface Hub {
  readonly config: Config;
  readonly database: DatabaseHandle;
  readonly services: Services;
  readonly http: FastifyInstance;
  /** Starts listening on the configured host and port; resolves to the address. */
  listen(): Promise<string>;
  /** Stops accepting, finishes requests in flight, then closes the database. */
  close(): Promise<void>;
}

/** The database the configuration names: a PostgreSQL server, or embedded PGlite. */
export function openConfiguredDatabase(config: Config): DatabaseHandle {
  return config.databaseUrl ? openDatabase({ url: config.databaseUrl }) : openDatabase({ dataDir: config.dataDir });
}

/**
 * The one wiring point: database → services → schema → HTTP. Waits for the database (bounded by
 * `dbConnectTimeout`) and migrates it before anything else runs.
 */
export async function createHub(
  config: Config,
  database: DatabaseHandle = openConfiguredDatabase(config),
  logger: Logger = createLogger(config),
): Promise<Hub> {
  try {
    await waitForDatabase(database, config.dbConnectTimeout, (error, delayMs) =>
      logger.warn(`database not reachable (${error.message}); retrying in ${delayMs} ms`),
    );
    await migrateToLatest(database.db);
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
  const services: Services = { config, db: database.db, logger };

  const createContext = async (request: { id: string }): Promise<Context> => ({
    requestId: request.id,
    principal: ANONYMOUS,
    services,
  });
  const http = await buildHttpServer({ config, logger, database, schema, createContext });

  let closing: Promise<void> | undefined;
  return {
    config,
    database,
    services,
    http,
    listen: () => http.listen({ host: config.host, port: config.port }),
    close: () => (closing ??= http.close().then(() => database.close())),
  };
}
