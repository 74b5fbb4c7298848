import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config.js';

export type { Logger };

/** The parts of an HTTP request a log line shows. */
interface LoggedRequest {
  readonly method: string;
  readonly url: string;
  readonly host?: string;
  readonly ip?: string;
  readonly socket?: { readonly remotePort?: number };
}

/**
 * A request as the HTTP server logs it: its path without the query, whose values may be a
 * client secret, a password or an email put there by a client (a GraphQL query sent by GET, an
 * OAuth parameter in the URL); the names of its parameters stay, to tell requests apart.
 */
export function loggedRequest(request: LoggedRequest) {
  const [path, query] = request.url.split('?', 2) as [string, string?];
  const names = query === undefined ? [] : [...new URLSearchParams(query).keys()].slice(0, 20);
  return {
    method: request.method,
    url: names.length > 0 ? `${path}?${names.map((name) => `${name.slice(0, 64)}=…`).join('&')}` : path,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** The process logger (JSON lines, to stdout unless told otherwise); the HTTP server logs through it too. Secrets are redacted. */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.clientSecret', '*.client_secret'],
    serializers: { req: loggedRequest },
  };
  return destination ? pino(options, destination) : pino(options);
}
