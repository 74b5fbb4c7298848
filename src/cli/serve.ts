import { isIPv6 } from 'node:net';
import { createHub } from '../app.js';
import type { Config } from '../config.js';
import { createLogger } from '../shared/logger.js';

/**
 * Runs the hub until SIGTERM, SIGINT or SIGHUP, then shuts down gracefully: stop accepting, finish
 * the requests in flight, close the database. A second signal exits at once. SIGHUP (the terminal
 * it runs in closed) stops it as the others do: by default it ends the process on the spot, and
 * with it the audit events not yet written; the hub has no configuration to read again.
 */
export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config);
  const where = config.databaseUrl ? 'PostgreSQL server' : `embedded PostgreSQL in ${config.dataDir}`;
  logger.info(`starting the hub on ${where}`);
  const hub = await createHub(config, { logger });
  // Shown before anything else can fail: the client now exists, and no later start shows it again.
  if (hub.bootstrapCredentials) console.log(`\n${operatorClientNotice(hub.bootstrapCredentials, config)}\n`);
  // An IPv6 address stands in brackets in a URL (RFC 3986 §3.2.2): `http://[::1]:4000`.
  const graphqlUrl = `http://${isIPv6(config.host) ? `[${config.host}]` : config.host}:${config.port}/graphql`;
  let tryIt: string[];
  try {
    // Only the embedded database of a newcomer's first start; a server is never seeded by itself.
    // Imported here so a hub on a server never loads the data generator (faker: ~35 MiB resident).
    tryIt = !config.databaseUrl && config.demoData ? await (await import('../identity/demo.js')).seedDemoIfEmpty(hub.services.db, logger, graphqlUrl) : [];
    await hub.listen();
  } catch (error) {
    // A start that cannot listen (the port is taken) still writes its audit events and releases the data folder.
    await hub.close().catch((closeError: unknown) => logger.error({ err: closeError }, 'closing after a failed start failed'));
    throw error;
  }
  logger.info(`GraphQL at ${graphqlUrl}`);
  if (tryIt.length > 0) console.log(`\n${tryIt.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info(`${signal}: finishing requests in flight, then stopping`);
    hub.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', stop);
}

/** The one showing of a new operator client's secret, with how to use it. */
function operatorClientNotice({ clientId, clientSecret }: { clientId: string; clientSecret: string }, config: Config): string {
  return [
    'Created an operator client with every operator scope. Its secret is shown now and never again:',
    `  client_id:     ${clientId}`,
    `  client_secret: ${clientSecret}`,
    'Get a token with:',
    `  curl -s -u '${clientId}:${clientSecret}' -d grant_type=client_credentials ${config.issuer}/oauth/token`,
  ].join('\n');
}
