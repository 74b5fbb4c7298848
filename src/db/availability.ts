import { inspect } from 'node:util';
import { sql } from 'kysely';
import type { DatabaseHandle, Db } from './connect.js';

/** `DatabaseHandle.ping` for `db`: the write check unless `writable: false`, within `timeoutMs`. */
export function pingDatabase(db: Db, timeoutMs?: number, options?: { readonly writable?: boolean }): Promise<void> {
  return withTimeout(options?.writable === false ? pingAnswers(db) : pingWritable(db), timeoutMs);
}

/** Resolves when the database answers, whether or not it takes writes. */
async function pingAnswers(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}

/** SQLSTATE read_only_sql_transaction: a standby, or a server set read-only (a failover, a full disk). */
const READ_ONLY = '25006';

/** True for the refusal of a database that takes no writes (`READ_ONLY`), from a statement or a ping. Never throws. */
export function isReadOnlyRefusal(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === READ_ONLY;
}

/**
 * Resolves when the database answers and would take a write: one that answers but refuses every
 * write (a primary demoted in a failover, a managed server turned read-only as its storage fills)
 * cannot serve the hub, whose requests and audit trail write, and is reported as unavailable.
 */
async function pingWritable(db: Db): Promise<void> {
  const { rows } = await sql<{ readOnly: string }>`select current_setting('transaction_read_only') as "readOnly"`.execute(db);
  if (rows[0]?.readOnly === 'on') throw Object.assign(new Error('the database accepts no writes (read-only)'), { code: READ_ONLY });
}

function withTimeout<T>(promise: Promise<T>, timeoutMs = 2_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // ETIMEDOUT: a database that does not answer is unavailable (isDatabaseUnavailable), and worth waiting for.
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Pings the database until it answers, backing off from 250 ms to 5 s between tries, as long as
 * it is unavailable (isDatabaseUnavailable: not up yet, refusing, starting): a refusal that waiting
 * cannot change (an unknown database or role, a wrong password) fails at once. It waits for the
 * database to take writes too, unless `writable: false`: a command that only reads (`hub audit
 * verify`, `hub migrate status`, `hub keys list`) runs on a read-only standby as well.
 * @throws Error naming the last failure once `timeoutSeconds` have passed, or the refusal.
 */
export async function waitForDatabase(
  handle: DatabaseHandle,
  timeoutSeconds: number,
  onRetry: (error: Error, delayMs: number) => void = () => {},
  options: { readonly writable?: boolean } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1_000;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await handle.ping(5_000, options);
    } catch (error) {
      const reason = asError(error);
      if (!isDatabaseUnavailable(reason)) throw new Error(`database refused the connection: ${reason.message}`, { cause: reason });
      if (Date.now() + delay > deadline) {
        throw new Error(`database unreachable after ${timeoutSeconds} s: ${reason.message}`);
      }
      onRetry(reason, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * `error` as an Error whose message names it. PGlite's runtime rejects with objects that are not
 * Errors (its `ExitStatus`, when the database it boots exits: a name, a message and the code),
 * which `String()` turns into `[object Object]`, telling an operator nothing. Never throws.
 */
function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  const { name, message } = (typeof error === 'object' && error !== null ? error : {}) as { name?: unknown; message?: unknown };
  if (typeof message === 'string') return new Error(typeof name === 'string' ? `${name}: ${message}` : message, { cause: error });
  return new Error(inspect(error, { breakLength: Infinity }), { cause: error });
}

/** Seconds a client is asked to wait (`Retry-After`) while the database cannot be reached. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * Node's socket errors, and PostgreSQL's: too many connections, shutting down, starting up, and a
 * database that refuses writes (read-only until a failover ends or storage is freed, or out of disk
 * space, `disk_full`, as a server that is not turned read-only when its storage fills up answers
 * every write that needs a new page, while it goes on answering reads). Among Node's, a socket the
 * process or the system has no file left for (EMFILE, ENFILE: a flood of connections to the hub),
 * which is as passing as the flood.
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EMFILE', 'ENFILE', '53100', '53300', '57P01', '57P02', '57P03', READ_ONLY]);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|connection error|not queryable|Connection ended/i;

/**
 * True for an error that says the database cannot be reached right now (refused, dropped or
 * timed-out connections, a server with no connection slot left, shutting down or starting, or
 * refusing writes, a full disk among them), as opposed to an error in the statement itself. Such a failure is worth a 503 and a retry, not a
 * 500. Never throws.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
    if (UNAVAILABLE_MESSAGES.test(cause.message)) return true;
  }
  return false;
}
