import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startListeningHub } from '../helpers/hub.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';

/**
 * Answers of some 11 MB (3.6 million characters of three UTF-8 bytes each, under the 4 MiB bound
 * on an answer's characters) from a query of 400 bytes: eleven agents of a user, each with a
 * description of 2,000 characters, read 15 times over through the agents' user. More than the
 * kernel's buffers of one connection usually take here, so an answer its reader does not take
 * waits in the hub's memory.
 */
const AGENTS = 11;
const LARGE = `{ me { connectedAgents(first: ${AGENTS}) { consent { user { connectedAgents(first: ${AGENTS}) { agent { ${Array.from({ length: 15 }, (_, i) => `d${i}: description`).join(' ')} } } } } } } }`;

/** The instance's bound, over one such answer and under two; a quarter of it, 4 MiB, for each network, under one. */
const BOUND_MIB = 16;

let hub: Hub;
let port: number;
let token: string;
const open: net.Socket[] = [];

beforeAll(async () => {
  // Behind a trusted proxy on loopback, X-Forwarded-For names each request's network.
  ({ hub, port } = await startListeningHub({ HUB_MAX_UNREAD_ANSWERS_MIB: String(BOUND_MIB), HUB_TRUSTED_PROXIES: '127.0.0.1', HUB_GRAPHQL_RATE_LIMIT: '1000' }));
  const user = await signUpUser(hub);
  token = user.accessToken;
  for (let i = 0; i < AGENTS; i++) {
    const agent = await registerAgent(hub, token, { name: `Agent ${i}`, description: '中'.repeat(2_000), allowedScopes: ['contact:read'] });
    await giveConsent(hub, token, { agentId: agent.id, scopes: ['contact:read'] });
  }
}, 60_000);

afterAll(async () => {
  for (const socket of open) socket.destroy();
  await hub?.close();
});

/** Sends LARGE from `address` on a connection of its own whose reader takes nothing until `readAll`. */
function unreadLarge(address: string): { readAll: () => Promise<number> } {
  const body = JSON.stringify({ query: LARGE });
  const socket = net.connect(port, '127.0.0.1', () =>
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: hub\r\nConnection: close\r\nContent-Type: application/json\r\nX-Forwarded-For: ${address}\r\n` +
        `Authorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    ),
  );
  socket.pause();
  open.push(socket);
  return {
    // The status of the answer, read once the whole of it is taken.
    readAll: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      return Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks.slice(0, 1)).toString('latin1'))?.[1]);
    },
  };
}

const smallFrom = (address: string) => graphql<{ me: { id: string } }>(hub, '{ me { id } }', { token, headers: { 'x-forwarded-for': address } });

/** Asks a small query from `address` until it is answered `status`, for at most 10 s. */
async function answeredSoon(address: string, status: number) {
  const deadline = Date.now() + 10_000;
  let answer = await smallFrom(address);
  while (answer.status !== status && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    answer = await smallFrom(address);
  }
  return answer;
}

describe('answers waiting for their readers', () => {
  it('are held to a quarter of the bound for one network, which is asked to retry while others are served', async () => {
    const reader = unreadLarge('198.51.100.1');
    const refused = await answeredSoon('198.51.100.1', 429);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 1 });
    expect((await smallFrom('198.51.100.2')).status).toBe(200);

    expect(await reader.readAll()).toBe(200);
    expect((await answeredSoon('198.51.100.1', 200)).status).toBe(200);
  }, 30_000);

  it('refuse the large answers of requests let in at once, past one network’s share', async () => {
    const readers = Array.from({ length: 3 }, () => unreadLarge('198.51.100.3'));
    await answeredSoon('198.51.100.3', 429);
    const statuses = await Promise.all(readers.map((reader) => reader.readAll()));
    // Two when the kernel took the whole of the first before the second was sent (it may grow a
    // connection's buffers to tens of MB): then only the first was held.
    const sent = statuses.filter((status) => status === 200).length;
    expect(sent).toBeOneOf([1, 2]);
    expect(statuses.sort()).toEqual([...Array(sent).fill(200), ...Array(3 - sent).fill(429)]);
  }, 30_000);

  it('are held to the bound for the instance, past which every network is asked to retry', async () => {
    const readers = ['203.0.113.1', '203.0.113.2'].map((address) => unreadLarge(address));
    const refused = await answeredSoon('203.0.113.9', 503);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');

    expect(await Promise.all(readers.map((reader) => reader.readAll()))).toEqual([200, 200]);
    expect((await answeredSoon('203.0.113.9', 200)).status).toBe(200);
  }, 30_000);
});

describe('answers whose readers left before they were sent', () => {
  it('are not counted as held once sent to nobody', async () => {
    // The reader resets the connection while its answer is being made, so that the connection's
    // 'close' comes before the answer is sent (with PGlite, which makes the answer without a
    // pause for the network, the reset is seen only after: there the test cannot fail).
    const body = JSON.stringify({ query: LARGE });
    for (let i = 0; i < 2; i++) {
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write(
          `POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nX-Forwarded-For: 192.0.2.1\r\n` +
            `Authorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          () => setTimeout(() => socket.resetAndDestroy(), 1),
        ),
      );
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('close', resolve));
    }
    // Let the answers be made and sent nowhere.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await answeredSoon('192.0.2.1', 200)).status).toBe(200);
    expect((await answeredSoon('192.0.2.2', 200)).status).toBe(200);
  }, 30_000);
});
