import { randomInt } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/** What a listener hears: each notification's payload, and whether it is hearing at all. */
export interface ListenHandlers {
  onMessage(payload: string): void;
  /**
   * `true` once the LISTEN is in place, `false` whenever it is lost: notifications sent meanwhile
   * are missed, so anything cached on their strength must be dropped and not trusted until `true`.
   */
  onState(listening: boolean): void;
}

/** Starts listening on a channel; resolves to a function that stops for good. */
export type Listen = (channel: string, handlers: ListenHandlers) => () => Promise<void>;

const CHANNEL = /^[a-z_]{1,63}$/;

/** The `application_name` of LISTEN connections, which tells them apart from pooled ones. */
export const LISTENER_APPLICATION_NAME = 'identity-consent-hub listener';

/** The `application_name` of the short connection that proves a LISTEN connection hears other sessions. */
const PROBE_APPLICATION_NAME = 'identity-consent-hub notification probe';

/** How long a query on a LISTEN connection (the LISTEN, a heartbeat) may wait for its answer. */
const ANSWER_WITHIN_MS = 2_000;
/** How long opening a LISTEN connection (TCP and PostgreSQL's startup) may take. */
const CONNECT_WITHIN_MS = 5_000;
/** Pause between two heartbeats of a LISTEN connection. */
const HEARTBEAT_EVERY_MS = 2_000;
/** Idle time before the kernel's TCP keepalive probes begin: a second line behind the heartbeat. */
const KEEPALIVE_AFTER_MS = 10_000;

/**
 * LISTENs on one dedicated connection to the server (a pooled one would be handed to other work),
 * shared by every channel listened on through the returned function: an instance holds one such
 * connection however many caches listen. The connection opens with the first listener and closes
 * with the last. One that fails, or that silently stops carrying anything (an idle flow a NAT or
 * firewall forgot, a partition), is noticed within HEARTBEAT_EVERY_MS + ANSWER_WITHIN_MS by a
 * `select 1` heartbeat, reported `false` to every listener, torn down and reopened, backing off
 * from 250 ms to 5 s; an opening that hangs is given up after CONNECT_WITHIN_MS and retried the
 * same way. A listener hears `true` once its channel's LISTEN is in place and the connection has
 * heard a notification that another session sent it (a probe on a channel of this listener's
 * own): a pooler in transaction mode (PgBouncer's `pool_mode=transaction`) answers the LISTEN and
 * every heartbeat, but hands the server connection that ran the LISTEN to other clients and drops
 * what the server sends it between them, so it is reported as never listening, and every cache
 * that relies on it stays off. Never throws.
 */
export function serverListener(url: string): Listen {
  const listeners = new Map<string, Set<ListenHandlers>>();
  /** The channels the current connection has its LISTEN in place for. */
  let listening = new Set<string>();
  let client: pg.Client | undefined;
  let delay = 250;
  let reconnect: NodeJS.Timeout | undefined;
  let beat: NodeJS.Timeout | undefined;
  /** LISTENs are sent one statement at a time, so two never race to report the same channel. */
  let syncing = Promise.resolve();
  /** The channel of this listener's probes, and the connection that heard one. */
  const probe = `hub_probe_${Array.from({ length: 16 }, () => String.fromCharCode(97 + randomInt(26))).join('')}`;
  let proven: pg.Client | undefined;
  let heardProbe: (() => void) | undefined;

  /** Whether `current` hears, within ANSWER_WITHIN_MS, a notification on `probe` that another session sends. */
  const hearsOthers = async (): Promise<boolean> => {
    const heard = new Promise<boolean>((resolve) => {
      heardProbe = () => resolve(true);
      setTimeout(() => resolve(false), ANSWER_WITHIN_MS).unref();
    });
    const sender = new pg.Client({ connectionString: url, application_name: PROBE_APPLICATION_NAME, connectionTimeoutMillis: CONNECT_WITHIN_MS, query_timeout: ANSWER_WITHIN_MS });
    sender.on('error', () => {});
    try {
      await sender.connect();
      await sender.query(`select pg_notify('${probe}', '')`);
    } catch {
      return false;
    } finally {
      void close(sender);
    }
    return heard;
  };

  const report = (channels: Iterable<string>, state: boolean) => {
    for (const channel of channels) for (const handlers of listeners.get(channel) ?? []) handlers.onState(state);
  };

  /** Gives up `lost` if it is still the connection in use: reports it, and reopens after a pause. */
  const drop = (lost: pg.Client) => {
    if (client !== lost) return;
    client = undefined;
    listening = new Set();
    clearTimeout(beat);
    destroy(lost);
    report(listeners.keys(), false);
    if (listeners.size === 0) return;
    reconnect = setTimeout(connect, delay);
    reconnect.unref();
    delay = Math.min(delay * 2, 5_000);
  };

  const heartbeat = (current: pg.Client) => {
    beat = setTimeout(() => {
      current.query('select 1').then(
        () => client === current && heartbeat(current),
        () => drop(current),
      );
    }, HEARTBEAT_EVERY_MS);
    beat.unref();
  };

  /** LISTENs on `current` for every channel wanted and not yet in place, then tells their listeners. */
  const sync = (current: pg.Client): Promise<void> =>
    (syncing = syncing.then(async () => {
      const wanted = [...listeners.keys()].filter((channel) => !listening.has(channel));
      if (client !== current || wanted.length === 0) return;
      try {
        await current.query([...wanted, ...(proven === current ? [] : [probe])].map((channel) => `listen ${channel}`).join('; '));
      } catch {
        return drop(current);
      }
      if (client !== current) return;
      if (proven !== current) {
        if (!(await hearsOthers())) return drop(current);
        if (client !== current) return;
        proven = current;
      }
      delay = 250;
      for (const channel of wanted) listening.add(channel);
      report(wanted, true);
    }));

  async function connect(): Promise<void> {
    reconnect = undefined;
    const next = new pg.Client({
      connectionString: url,
      application_name: LISTENER_APPLICATION_NAME,
      connectionTimeoutMillis: CONNECT_WITHIN_MS,
      query_timeout: ANSWER_WITHIN_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_AFTER_MS,
    });
    client = next;
    next.on('error', () => drop(next));
    next.on('end', () => drop(next));
    next.on('notification', (message) => {
      if (message.channel === probe) return heardProbe?.();
      for (const handlers of listeners.get(message.channel) ?? []) handlers.onMessage(message.payload ?? '');
    });
    try {
      await next.connect();
    } catch {
      return drop(next);
    }
    await sync(next);
    if (client === next) heartbeat(next);
  }

  return (channel, handlers) => {
    if (!CHANNEL.test(channel)) throw new TypeError(`bad channel name ${channel}`);
    const wanting = listeners.get(channel) ?? new Set();
    listeners.set(channel, wanting.add(handlers));
    if (listening.has(channel)) handlers.onState(true);
    else if (client) void sync(client);
    else if (!reconnect) void connect();
    return async () => {
      if (!wanting.delete(handlers)) return;
      // A LISTEN left in place costs nothing; what it carries is no longer handed to anyone.
      if (wanting.size === 0) listeners.delete(channel);
      handlers.onState(false);
      if (listeners.size > 0) return;
      clearTimeout(reconnect);
      clearTimeout(beat);
      reconnect = undefined;
      const last = client;
      client = undefined;
      listening = new Set();
      if (last) await close(last);
    };
  };
}

/** Tears a connection down at once, without a word to the server: it is not answering. */
function destroy(connection: pg.Client): void {
  connection.removeAllListeners();
  connection.on('error', () => {});
  connection.connection.stream.destroy();
}

/** Ends a connection, tearing it down if the server does not see it off within ANSWER_WITHIN_MS. Never throws. */
async function close(connection: pg.Client): Promise<void> {
  connection.removeAllListeners();
  connection.on('error', () => {});
  const timer = setTimeout(() => connection.connection.stream.destroy(), ANSWER_WITHIN_MS);
  await connection.end().catch(() => {});
  clearTimeout(timer);
}

/**
 * LISTEN on embedded PGlite: the database lives in this process, so nothing can be lost in
 * transit. Reports `true` once the LISTEN is in place, unless stopped first; a LISTEN that fails
 * is never reported `true`. Never throws.
 */
export function listenOnPglite(pglite: PGlite, channel: string, handlers: ListenHandlers): () => Promise<void> {
  let stopped = false;
  const unsubscribe = pglite.listen(channel, (payload) => handlers.onMessage(payload)).then(
    (stop) => {
      if (!stopped) handlers.onState(true);
      return stop;
    },
    () => undefined,
  );
  return async () => {
    stopped = true;
    handlers.onState(false);
    await (await unsubscribe)?.();
  };
}
