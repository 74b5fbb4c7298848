import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addressNetwork } from '../shared/address.js';
import { routedUnder } from './bearer.js';

/** Of the instance's bound, the most that the unread answers of one network (`addressNetwork`) may hold. */
const ONE_NETWORK_SHARE = 1 / 4;

/**
 * An answer this small is sent whatever is held: bounding it would save little, and a mutation's
 * answer (its changes made) would be lost for it.
 */
const SMALL_ANSWER_BYTES = 64 * 1024;

const RETRY_AFTER_SECONDS = 1;

/**
 * Bounds the GraphQL answers held in the hub's memory until their readers take them. An answer is
 * written whole (up to 4 MiB of JSON, `MAX_ANSWER_CHARACTERS`), and what the kernel does not take
 * waits in the process: a client that asks for large answers and reads them a trickle at a time
 * (never stalling long enough to be cut off) held some 18 MB per request, and forty such
 * connections took a gigabyte. Past `boundMib` held by the whole instance, requests to `/graphql`
 * are answered 503 with `Retry-After`; past a quarter of it held for one network, that network's
 * requests are answered 429 `RATE_LIMITED`, so one slow reader cannot turn everyone away. A request
 * is refused as it arrives, before its token is checked; one admitted while others' answers were
 * being written is refused as its answer is sent, unless that answer is small.
 */
export function boundUnreadAnswers(app: FastifyInstance, boundMib: number): void {
  const bound = boundMib * 2 ** 20;
  let held = 0;
  const heldByNetwork = new Map<string, number>();
  const networkOf = (request: FastifyRequest) => addressNetwork(request.ip);
  /** The status of the refusal `network` would be given now, if any. */
  const refusal = (network: string): 429 | 503 | undefined => {
    if (held >= bound) return 503;
    if ((heldByNetwork.get(network) ?? 0) >= bound * ONE_NETWORK_SHARE) return 429;
    return undefined;
  };
  const refuse = (reply: FastifyReply, status: 429 | 503) => {
    reply.code(status).header('retry-after', String(RETRY_AFTER_SECONDS));
    const [message, code] =
      status === 503
        ? ['Service unavailable; retry later', 'INTERNAL_SERVER_ERROR']
        : [`Too many answers are waiting to be read; retry after ${RETRY_AFTER_SECONDS} s`, 'RATE_LIMITED'];
    return { errors: [{ message, extensions: { code, ...(status === 429 && { retryAfter: RETRY_AFTER_SECONDS }) } }] };
  };
  const hold = (network: string, bytes: number) => {
    held += bytes;
    const left = (heldByNetwork.get(network) ?? 0) + bytes;
    if (left > 0) heldByNetwork.set(network, left);
    else heldByNetwork.delete(network);
  };

  app.addHook('onRequest', async (request, reply) => {
    if (!routedUnder(request, '/graphql')) return;
    const status = refusal(networkOf(request));
    if (status) return reply.send(refuse(reply, status));
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (!routedUnder(request, '/graphql') || typeof payload !== 'string') return payload;
    const bytes = Buffer.byteLength(payload);
    const network = networkOf(request);
    const status = bytes > SMALL_ANSWER_BYTES ? refusal(network) : undefined;
    if (status) return JSON.stringify(refuse(reply, status));
    // A reader gone before its answer was made (the connection's 'close' already past) holds
    // nothing, and would never be let go.
    if (reply.raw.closed) return payload;
    hold(network, bytes);
    // 'close' comes once the last byte is handed to the kernel, or the connection is gone.
    reply.raw.once('close', () => hold(network, -bytes));
    return payload;
  });
}
