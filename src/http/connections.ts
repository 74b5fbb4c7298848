import type { FastifyInstance } from 'fastify';
import type { Logger } from '../shared/logger.js';

/** How often, at most, connections refused or not accepted are logged while they go on. */
const CONNECTION_TROUBLE_LOG_MS = 60_000;

/**
 * Holds at most `max` client connections open at once; one past it is closed as it arrives. Each
 * takes an open file, as do the database's connections and files and the webhooks' sockets: idle
 * connections without number (a flood, or a client that never closes its keep-alive ones) would
 * leave the process none for those, and every request would fail, on the connections it holds too.
 * Once listening, a connection the server could not accept (no file left for it, past the one
 * libuv keeps in reserve to accept and close such connections) is an 'error' event of the server,
 * which would end the process unheard: the server goes on listening. Both are logged at `warn`
 * once, then at most once a minute while they go on, with how many there were.
 */
export function limitConnections(app: FastifyInstance, max: number, logger: Logger): void {
  const refused = warnNowAndThen(logger, () => `connections refused: ${max} are open, the most HUB_MAX_CONNECTIONS allows; closing further ones as they arrive`);
  const notAccepted = warnNowAndThen(logger, (error: Error) => `connections could not be accepted: ${error.message}`);
  app.server.maxConnections = max;
  app.server.on('drop', () => refused());
  // Not before: a port already taken is the listen's own error, which Fastify reports.
  app.server.once('listening', () => app.server.on('error', notAccepted));
}

/** `logger.warn(message(...))` at the first call, then at most once per CONNECTION_TROUBLE_LOG_MS, with the count of calls since. */
function warnNowAndThen<A extends unknown[]>(logger: Logger, message: (...args: A) => string): (...args: A) => void {
  let count = 0;
  let loggedAt: number | undefined;
  return (...args) => {
    count++;
    const now = performance.now();
    if (loggedAt !== undefined && now - loggedAt < CONNECTION_TROUBLE_LOG_MS) return;
    logger.warn(`${message(...args)} (${count} since this was last logged)`);
    loggedAt = now;
    count = 0;
  };
}
