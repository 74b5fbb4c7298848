import net from 'node:net';

/** A TCP port on loopback that nothing listens on now, for a hub or receiver a test starts. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A GET of `url` by a reader that takes the first bytes of the answer and then nothing: resolves
 * to the status and the connection, left paused. The buffers of such a connection usually hold
 * some 4 MB here, but the kernel may grow them up to 32 MB to receive and 4 MB to send on this kind
 * of machine: only a longer answer surely stalls on the server's side. Asks for the connection to
 * close once the answer ends, so an answer that was whole shows it.
 */
export function stalledGet(url: string, token: string): Promise<{ status: number; connection: net.Socket }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const connection = net.connect({ host: hostname, port: Number(port) }, () => {
      connection.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    });
    connection.once('error', reject);
    connection.once('data', (head: Buffer) => {
      connection.pause();
      connection.unshift(head);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head.toString('latin1'))?.[1]), connection });
    });
  });
}

/**
 * Everything a connection of `stalledGet` still delivers until it closes, and whether that was a
 * whole chunked answer (its last chunk, RFC 9112 §7.1) or one cut off.
 */
export async function restOf(connection: net.Socket): Promise<{ text: string; whole: boolean }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of connection) chunks.push(chunk);
  } catch {
    // A reset ends it as a close does.
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return { text, whole: text.endsWith('\r\n0\r\n\r\n') };
}

/** Sends `raw` as it is on a connection of its own to loopback `port`; resolves to everything the server wrote before it closed. */
export function sendRaw(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(raw));
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => resolve(received)).on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
  });
}

/** The status, header fields (names in lower case) and JSON body of one whole answer `sendRaw` received. */
export function parseRawAnswer(answer: string): { status: number; headers: Record<string, string>; body: unknown } {
  const [head = '', body = ''] = answer.split('\r\n\r\n', 2);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) as unknown };
}
