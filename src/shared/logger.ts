import { pino, type Logger } from 'pino';
import type { Config } from '../config.js';

export type { Logger };

/** The process logger (JSON lines); the HTTP server logs through it too. Secrets are redacted. */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.clientSecret', '*.client_secret'],
  });
}
