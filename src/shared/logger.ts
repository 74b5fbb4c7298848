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

/**
 * The fields of a logged error that carry the values of a row, a statement or a request:
 * PostgreSQL's `detail` ("Key (email)=(ann@example.com) already exists", "Failing row contains
 * (…)", the whole row with its password hash) and `where` (a COPY's failing line), the `params`
 * and `queryOptions` PGlite adds to its errors, and the `rawPacket` Node's HTTP parser adds to a
 * request it refuses (logged at trace): the bytes received, Authorization and Cookie headers and
 * query values included. The code, constraint, table and statement text stay: they say what
 * failed without saying about whom.
 */
const VALUE_FIELDS = ['detail', 'where', 'params', 'queryOptions', 'rawPacket'] as const;

/** An error as the log shows it: pino's serialization without VALUE_FIELDS, in it and in the errors it holds. */
function loggedError(error: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  if (serialized !== error) dropValueFields(serialized as Record<string, unknown>, Object.getPrototypeOf(serialized));
  return serialized;
}

function dropValueFields(serialized: Record<string, unknown>, errorPrototype: unknown): void {
  for (const field of VALUE_FIELDS) delete serialized[field];
  for (const value of Object.values(serialized)) {
    const inner = Array.isArray(value) ? value : [value];
    for (const item of inner) if (item !== null && typeof item === 'object' && Object.getPrototypeOf(item) === errorPrototype) dropValueFields(item as Record<string, unknown>, errorPrototype);
  }
}

/**
 * Characters of log lines held for a standard output that takes none (a log collector that hangs);
 * the lines past it are dropped. Unbounded, each request held another kilobyte until the process
 * ran out of memory.
 */
const HELD_LOG_CHARACTERS = 8 * 1024 * 1024;

/** How long the exit waits for a standard output that takes nothing, to write the lines still held. */
const EXIT_FLUSH_MS = 1_000;

/** When the process began to exit; set before pino's own flush at exit, which is registered after it. */
let exitingSince: number | undefined;
process.once('exit', () => (exitingSince = Date.now()));

/**
 * Standard output as pino writes it by default (asynchronously: a reader slow to take the lines
 * holds up no request), ended at its first failed write, as pino ends it only on EPIPE (its reader
 * gone). Any other failure (ENOSPC, a full disk; EIO) pino raises uncaught, which ends the process,
 * and its last flush at exit then retries that write without end: the hub would neither serve nor
 * exit, nor heed a signal. The hub outlives its log, as it outlives a reader that left. While the
 * output takes nothing (EAGAIN), lines wait, up to HELD_LOG_CHARACTERS, and the flush at exit gives
 * up on them after EXIT_FLUSH_MS, where pino's would wait for the reader for ever.
 */
function standardOutput(): DestinationStream {
  const retryEAGAIN = () => exitingSince === undefined || Date.now() - exitingSince < EXIT_FLUSH_MS;
  const stream = pino.destination({ dest: 1, sync: false, maxLength: HELD_LOG_CHARACTERS, retryEAGAIN });
  const flushSync = stream.flushSync.bind(stream);
  const ignore = () => {};
  stream.flushSync = () => {
    try {
      flushSync();
    } catch {
      // The output still takes nothing: what it holds is lost.
    }
  };
  stream.on('error', () => Object.assign(stream, { write: ignore, end: ignore, flushSync: ignore, destroy: ignore }));
  return stream;
}

/** The process logger (JSON lines, to stdout unless told otherwise); the HTTP server logs through it too. Secrets are redacted. */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.clientSecret', '*.client_secret'],
    serializers: { req: loggedRequest, err: loggedError },
  };
  return pino(options, destination ?? standardOutput());
}
