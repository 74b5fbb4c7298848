import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { startListeningHub } from '../helpers/hub.js';

// A client that trickles its request (slowloris) holds a connection only as long as the server's
// timeouts allow: headers within 10 s, the whole request within 30 s, checked every 2 s.

let hub: Hub;
let port: number;
beforeAll(async () => {
  ({ hub, port } = await startListeningHub());
});
afterAll(() => hub.close());

/** Opens a connection that sends `start`, then `drip` every second; resolves to the ms until the hub closed it, or `capMs`. */
function heldFor(start: string, drip: string, capMs: number): Promise<number> {
  return new Promise((resolve) => {
    const began = performance.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(start));
    const timer = setInterval(() => socket.write(drip), 1_000);
    const done = () => {
      clearInterval(timer);
      clearTimeout(cap);
      socket.destroy();
      resolve(performance.now() - began);
    };
    const cap = setTimeout(done, capMs);
    socket.on('close', done).on('error', () => {});
  });
}

describe('a client trickling its request', () => {
  it('is cut off once its headers take 10 s, or the whole request 30 s', async () => {
    const [headers, body] = await Promise.all([
      heldFor('POST /graphql HTTP/1.1\r\nHost: hub\r\n', 'X-Slow: 1\r\n', 45_000),
      heldFor('POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n', ' ', 45_000),
    ]);
    expect(headers).toBeGreaterThan(9_000);
    expect(headers).toBeLessThan(15_000);
    expect(body).toBeGreaterThan(29_000);
    expect(body).toBeLessThan(35_000);
  }, 60_000);
});
