import net from 'node:net';
import { LISTENER_APPLICATION_NAME } from '../../src/db/notifications.js';

/**
 * What becomes of the traffic of the hub's LISTEN connections (told apart by the
 * `application_name` of their startup message); pooled connections always pass.
 * - `pass`: untouched;
 * - `drop`: nothing more passes either way and the sockets stay open, for connections already open
 *   and new ones: an idle flow that a NAT or firewall has forgotten, or a partition;
 * - `{ delayMs }`: what the server sends arrives that late, in order: a slow link on a connection
 *   that stays healthy.
 */
export type ListenerTraffic = 'pass' | 'drop' | { readonly delayMs: number };

/**
 * What becomes of a LISTEN statement sent on one of those connections, everything else passing:
 * - `pass`: the server runs it;
 * - `refuse`: the server refuses it, as a standby does (`cannot execute LISTEN during recovery`),
 *   answering an error and keeping the connection;
 * - `ignore`: it never reaches the server, so no answer comes, on a connection still up.
 */
export type ListenReply = 'pass' | 'refuse' | 'ignore';

export interface TcpProxy {
  readonly port: number;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  /**
   * Lets nothing more pass either way on every connection open now, keeping their sockets open,
   * while new connections pass: flows a NAT or load balancer forgot, or a failover, so that what
   * is written on them vanishes without a reset.
   */
  forgetOpen(): void;
  restore(): void;
  setListenerTraffic(traffic: ListenerTraffic): void;
  setListenReply(reply: ListenReply): void;
  /**
   * Takes only these startup parameters from now on, as PgBouncer does (`user`, `database`,
   * `application_name`, `client_encoding`, …): a connection whose startup message carries another
   * is refused as PgBouncer refuses it (FATAL 08P01 `unsupported startup parameter: …`); `any`
   * takes every one.
   */
  setStartupParameters(allowed: readonly string[] | 'any'): void;
  /**
   * Whether the notifications the server sends on LISTEN connections reach them: `drop` loses
   * them, everything else passing, as PgBouncer in `pool_mode=transaction` does (the server
   * connection that ran the LISTEN is back in its pool, linked to no client, when they come).
   */
  setNotifications(notifications: 'pass' | 'drop'): void;
  /** How many LISTEN statements were refused or ignored (see ListenReply) since the proxy started. */
  listensRefused(): number;
  /** How many open LISTEN connections the server has confirmed a LISTEN on. */
  listening(): number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of the PostgreSQL server that a test can cut and restore, to make the
 * database unreachable for one hub without stopping the server every other test file uses, or
 * whose LISTEN connections it can silence or slow down, or whose LISTEN statements it can have
 * refused or left unanswered.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const forgotten = new Set<net.Socket>();
  const confirmed = new Set<net.Socket>();
  let up = true;
  let traffic: ListenerTraffic = 'pass';
  let reply: ListenReply = 'pass';
  let refused = 0;
  let parameters: readonly string[] | 'any' = 'any';
  let notifications: 'pass' | 'drop' = 'pass';
  const server = net.createServer((client) => {
    if (!up) return client.destroy();
    const upstream = net.connect(target.port, target.host);
    let listener: boolean | undefined;
    /** What the server sent a LISTEN connection past the last whole message, while notifications are dropped. */
    let partial: Buffer = Buffer.alloc(0);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        forgotten.delete(socket);
        confirmed.delete(socket);
      });
      socket.on('error', () => {});
    }
    client.on('data', (chunk: Buffer) => {
      if (forgotten.has(client)) return;
      if (listener === undefined && parameters !== 'any') {
        const unsupported = startupParameters(chunk).find((name) => !parameters.includes(name));
        if (unsupported !== undefined) return void client.end(fatal('08P01', `unsupported startup parameter: ${unsupported}`));
      }
      listener ??= chunk.includes(LISTENER_APPLICATION_NAME);
      if (listener && traffic === 'drop') return;
      if (listener && reply !== 'pass' && isListen(chunk)) {
        refused += 1;
        if (reply === 'ignore') return;
        return void upstream.write(simpleQuery(`do $$ begin raise exception 'cannot execute LISTEN during recovery' using errcode = '25006'; end $$`));
      }
      upstream.write(chunk);
    });
    upstream.on('data', (received: Buffer) => {
      if (forgotten.has(client)) return;
      if (!listener) return void client.write(received);
      if (traffic === 'drop') return;
      let chunk = received;
      if (notifications === 'drop' || partial.length > 0) {
        ({ kept: chunk, rest: partial } = withoutNotifications(Buffer.concat([partial, received])));
        if (chunk.length === 0) return;
      }
      // A CommandComplete tagged LISTEN: the server has the LISTEN in place.
      if (chunk.includes('LISTEN\0')) confirmed.add(client);
      if (traffic === 'pass') return void client.write(chunk);
      setTimeout(() => client.write(chunk), traffic.delayMs);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    up = false;
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    forgetOpen: () => {
      for (const socket of sockets) forgotten.add(socket);
    },
    restore: () => {
      up = true;
    },
    setListenerTraffic: (next) => {
      traffic = next;
    },
    setListenReply: (next) => {
      reply = next;
    },
    setNotifications: (next) => {
      notifications = next;
    },
    setStartupParameters: (next) => {
      parameters = next;
    },
    listensRefused: () => refused,
    listening: () => confirmed.size,
    close: () => {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Whether `chunk` is exactly one simple-protocol Query message (`Q`, its length, its text) of a LISTEN. */
function isListen(chunk: Buffer): boolean {
  return chunk[0] === 0x51 && chunk.length > 5 && chunk.readInt32BE(1) === chunk.length - 1 && /^listen /i.test(chunk.subarray(5).toString());
}

/** The whole messages of `stream` (a type byte, then its length) but NotificationResponses (`A`), and what follows the last whole one. */
function withoutNotifications(stream: Buffer): { kept: Buffer; rest: Buffer } {
  const kept: Buffer[] = [];
  let at = 0;
  while (at + 5 <= stream.length && at + 1 + stream.readInt32BE(at + 1) <= stream.length) {
    const end = at + 1 + stream.readInt32BE(at + 1);
    if (stream[at] !== 0x41) kept.push(stream.subarray(at, end));
    at = end;
  }
  return { kept: Buffer.concat(kept), rest: stream.subarray(at) };
}

/** The names of the parameters of a startup message (its length, protocol 3.0, then name and value pairs). */
function startupParameters(chunk: Buffer): string[] {
  if (chunk.length < 8 || chunk.readInt32BE(4) !== 196_608) return [];
  const fields = chunk.subarray(8, chunk.readInt32BE(0)).toString().split('\0');
  return fields.filter((_, i) => i % 2 === 0 && fields[i] !== '');
}

/** An ErrorResponse of severity FATAL, as a server or pooler sends before it closes the connection. */
function fatal(code: string, message: string): Buffer {
  const body = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`);
  const header = Buffer.alloc(5);
  header.write('E');
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

/** A simple-protocol Query message running `text`. */
function simpleQuery(text: string): Buffer {
  const body = Buffer.from(`${text}\0`);
  const header = Buffer.alloc(5);
  header.write('Q');
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

/** A proxy in front of the server of this database URL, and the same database's URL through it. */
export async function proxyDatabase(databaseUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(databaseUrl);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const url = new URL(databaseUrl);
  url.host = `127.0.0.1:${proxy.port}`;
  return { proxy, url: url.toString() };
}
