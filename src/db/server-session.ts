import type pg from 'pg';

/*
 * The sessions the hub holds on a PostgreSQL server: the settings each connection takes before a
 * pool hands it out, and the deadline past which a silent connection is taken for lost.
 */

/** How long the server lets a session of the hub sit idle inside a transaction before ending it. */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

/**
 * How much longer than the statement timeout the hub waits for a statement's answer, the server's
 * cancellation of it at the latest, before it takes the connection for lost: a round trip and the
 * cancellation's own time, many times over.
 */
export const ANSWER_MARGIN_MS = 5_000;

/**
 * The statement that lifts a pooled session's statement timeout (see migrator.ts), and the one
 * that gives back `value` (as `current_setting` read it before): a connection waits for the
 * answers between them without a deadline.
 */
export const LIFT_STATEMENT_TIMEOUT = 'set statement_timeout = 0';
export const restoreStatementTimeout = (value: string) => `set statement_timeout = '${value.replaceAll("'", "''")}'`;

/**
 * Gives up a pooled connection that has not answered a statement within `deadlineMs`, failing that
 * statement as the database being unreachable (ETIMEDOUT): the server answers every statement by
 * then, if only with its cancellation, so a connection still silent was lost on the way (a flow a
 * NAT, a load balancer or a failover forgot drops what is written on it without a reset, and
 * TCP's retransmission would wait some 15 minutes), and the pool opens a new one in its place.
 */
export function answerWithin(client: pg.PoolClient, deadlineMs: number): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  let bounded = true;
  const watched = (text: unknown, ...rest: unknown[]) => {
    if (typeof text === 'string' && text.startsWith('set statement_timeout = ')) bounded = text !== LIFT_STATEMENT_TIMEOUT;
    const answer = query(text, ...rest);
    if (!bounded || !(answer instanceof Promise)) return answer;
    const timer = setTimeout(() => {
      client.connection.stream.destroy(Object.assign(new Error(`no answer from the database within ${deadlineMs} ms: connection lost`), { code: 'ETIMEDOUT' }));
    }, deadlineMs);
    return answer.finally(() => clearTimeout(timer));
  };
  (client as unknown as { query: typeof watched }).query = watched;
}

/** How long a pool's new connection may take to open and take the session's settings. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** PostgreSQL's `query_canceled`: a statement past its timeout. */
export const QUERY_CANCELED = '57014';

/**
 * The server's TCP keepalives on the session, so that it ends a session whose hub is gone within
 * two minutes (60 s idle, then six probes 10 s apart): a hub host that vanished, or a flow a NAT
 * forgot, never closes its sessions, and the server otherwise kept each, with its connection slot,
 * for its system's idle time and probes (2 h 11 min on Linux), so that a few restarts elsewhere
 * filled max_connections. A live hub's kernel answers the probes, and the pools close a connection
 * idle for 30 s before the first is sent. Ignored on a Unix socket; through a pooler in session
 * mode they keep the pooler's link to the server, and the pooler's own (PgBouncer's `tcp_keepidle`
 * and the like) the hub's link to it. Not `client_connection_check_interval`: it would end sooner
 * only a statement whose client closed mid-way, which `hub serve`'s statement timeout ends anyway,
 * and a server whose kernel cannot report a closed socket (Windows) refuses any value but 0, which
 * would fail every connection.
 */
const SERVER_KEEPALIVES: readonly (readonly [string, string])[] = [
  ['tcp_keepalives_idle', '60'],
  ['tcp_keepalives_interval', '10'],
  ['tcp_keepalives_count', '6'],
];

/**
 * Settings the hub's sessions need whatever the database or role makes their default (`alter
 * database … set …`): pg reads times and dates only in ISO's style, and takes anything else for
 * null (`03.12.2026 17:27:00 UTC` under `DateStyle = German`); and the hub's transactions take
 * their locks, then read what the holder before them committed, as only READ COMMITTED lets them
 * (under REPEATABLE READ or SERIALIZABLE a change that waited for a lock fails with 40001 instead).
 */
const SESSION_SETTINGS: readonly (readonly [string, string])[] = [
  ['DateStyle', 'ISO'],
  ['default_transaction_isolation', 'read committed'],
  ...SERVER_KEEPALIVES,
];

/**
 * What a pool of the hub connects with: `url` (with any `options` it gives, `-c TimeZone=…`), and,
 * once connected and before the pool hands the connection out, SESSION_SETTINGS, the statement
 * timeout (unbounded, it is so whatever the database sets), the idle-in-transaction timeout and
 * `settings`, set in one round trip (one statement each), so they prevail over the URL's. Set,
 * not sent as startup parameters: a pooler in session mode (PgBouncer) refuses a connection whose
 * startup message carries one it does not know (`options`, `idle_in_transaction_session_timeout`),
 * and one told to ignore them drops them, leaving the session unbounded. The statement timeout is
 * set first, so that a database's own tiny one bounds no more than that first statement; one it
 * cancels all the same (a millisecond on a loaded machine) is sent again, up to three times.
 */
export function serverSession(
  url: string,
  statementTimeoutMs: number | undefined,
  settings: readonly (readonly [string, string])[] = [],
  idleInTransactionTimeoutMs = IDLE_IN_TRANSACTION_TIMEOUT_MS,
): { connectionString: string; onConnect: (client: pg.ClientBase) => Promise<void> } {
  const all = [
    ['statement_timeout', String(statementTimeoutMs ?? 0)],
    ['idle_in_transaction_session_timeout', String(idleInTransactionTimeoutMs)],
    ...SESSION_SETTINGS,
    ...settings,
  ];
  const text = all.map(([name, value]) => `set ${name} = '${value}'`).join('; ');
  const onConnect = async (client: pg.ClientBase) => {
    // Part of the opening, bounded as the startup is: the pool has stopped timing the connection
    // by then, and one lost before it answered (a flow dropped without a reset) would hold its
    // slot, and every statement waiting for one, for as long as TCP kept retrying.
    const timer = setTimeout(() => {
      (client as pg.Client).connection.stream.destroy(Object.assign(new Error(`no answer from the database to the session's settings within ${CONNECT_TIMEOUT_MS} ms: connection lost`), { code: 'ETIMEDOUT' }));
    }, CONNECT_TIMEOUT_MS);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return void (await client.query(text));
        } catch (error) {
          if ((error as { code?: unknown }).code !== QUERY_CANCELED || attempt === 3) throw error;
        }
      }
    } finally {
      clearTimeout(timer);
    }
  };
  return { connectionString: url, onConnect };
}
