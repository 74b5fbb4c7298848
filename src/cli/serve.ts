import { createHub } from '../app.js';
import type { Config } from '../config.js';
import { createLogger } from '../shared/logger.js';

/**
 * Runs the hub until SIGTERM or SIGINT, then shuts down gracefully: stop accepting, finish the
 * requests in flight, close the database. A second signal exits at once.
 */
export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config);
  const where = config.databaseUrl ? 'PostgreSQL server' : `embedded PostgreSQL in ${config.dataDir}`;
  logger.info(`starting the hub on ${where}`);
  const hub = await createHub(config, { logger });
  const graphqlUrl = `http://${config.host}:${config.port}/graphql`;
  // Only the embedded database of a newcomer's first start; a server is never seeded by itself.
  // Imported here so a hub on a server never loads the data generator (faker: ~35 MiB resident).
  const tryIt = !config.databaseUrl && config.demoData ? await (await import('../identity/demo.js')).seedDemoIfEmpty(hub.services.db, logger, graphqlUrl) : [];
  await hub.listen();
  logger.info(`GraphQL at ${graphqlUrl}`);
  if (hub.bootstrapCredentials) console.log(`\n${operatorClientNotice(hub.bootstrapCredentials, config)}\n`);
  if (tryIt.length > 0) console.log(`\n${tryIt.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info(`${signal}: finishing requests in flight, then stopping`);
    hub.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
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
