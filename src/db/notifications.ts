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

/**
 * LISTENs on a dedicated connection to the server (a pooled one would be handed to other work).
 * A lost connection reports `false` and is reopened, backing off from 250 ms to 5 s. Never throws.
 */
export function listenOnServer(url: string, channel: string, handlers: ListenHandlers): () => Promise<void> {
  if (!CHANNEL.test(channel)) throw new TypeError(`bad channel name ${channel}`);
  let client: pg.Client | undefined;
  let stopped = false;
  let delay = 250;
  let timer: NodeJS.Timeout | undefined;

  const lost = () => {
    handlers.onState(false);
    client?.removeAllListeners();
    client?.end().catch(() => {});
    client = undefined;
    if (stopped) return;
    timer = setTimeout(connect, delay);
    timer.unref();
    delay = Math.min(delay * 2, 5_000);
  };

  async function connect(): Promise<void> {
    const next = new pg.Client({ connectionString: url, application_name: 'identity-consent-hub listener' });
    client = next;
    next.on('error', lost);
    next.on('end', () => client === next && !stopped && lost());
    next.on('notification', (message) => message.channel === channel && handlers.onMessage(message.payload ?? ''));
    try {
      await next.connect();
      await next.query(`listen ${channel}`);
      if (stopped) return void next.end().catch(() => {});
      delay = 250;
      handlers.onState(true);
    } catch {
      if (client === next) lost();
    }
  }

  void connect();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    handlers.onState(false);
    await client?.end().catch(() => {});
  };
}

/** LISTEN on embedded PGlite: the database lives in this process, so nothing can be lost in transit. */
export function listenOnPglite(pglite: PGlite, channel: string, handlers: ListenHandlers): () => Promise<void> {
  const unsubscribe = pglite.listen(channel, (payload) => handlers.onMessage(payload)).then((stop) => {
    handlers.onState(true);
    return stop;
  });
  return async () => {
    handlers.onState(false);
    await (await unsubscribe.catch(() => undefined))?.();
  };
}
