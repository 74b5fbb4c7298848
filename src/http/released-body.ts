import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { resolvedWithin } from '../shared/deadline.js';
import { loggedRequest } from '../shared/logger.js';

/**
 * A response body streamed from `chunks` that calls `release` as its last chunk is taken ('end'),
 * before the response finishes, so the caller's next request never finds what this one held still
 * held; or when the body stops short ('close'). `release` must do nothing when called again.
 */
function releasedBody(chunks: AsyncIterable<string>, release: () => void): Readable {
  // One chunk waiting for the connection, not the sixteen of an object stream's default: each is a
  // batch or a page, and a reader taking nothing would have the stream pull that many ahead.
  return Readable.from(chunks, { highWaterMark: 1 }).once('end', release).once('close', release);
}

/** Longest the close of a server waits for the bodies of `releasedBodies` still open. */
const OPEN_BODIES_CLOSE_DEADLINE_MS = 10_000;

/**
 * `releasedBody` for the routes of `app`, whose close then waits, up to
 * OPEN_BODIES_CLOSE_DEADLINE_MS, for each such body still open to end or close. An export records
 * its audit event as its body ends or closes, and that can come after its connection is gone: a
 * read under way finishes first. The hub closes its audit writer once the server has closed, and
 * an event recorded after that is lost. Call it when registering the routes (hooks cannot be added
 * later).
 */
export function releasedBodies(app: FastifyInstance): (chunks: AsyncIterable<string>, release: () => void) => Readable {
  const open = new Set<Promise<void>>();
  app.addHook('onClose', async () => {
    if (open.size === 0) return;
    if (!(await resolvedWithin(Promise.all(open), OPEN_BODIES_CLOSE_DEADLINE_MS))) {
      app.log.warn(`closing: ${open.size} streamed bodies did not close within ${OPEN_BODIES_CLOSE_DEADLINE_MS} ms; going on without them`);
    }
  });
  return (chunks, release) => {
    const body = releasedBody(chunks, release);
    // 'close' comes after the body's iterator has returned, its `finally` and what it records run.
    const closed = new Promise<void>((resolve) => body.once('close', () => resolve()));
    open.add(closed);
    void closed.then(() => open.delete(closed));
    return body;
  };
}

/**
 * How long an export's connection may move no byte before the export is cut off and its slots
 * freed: a client that opens exports and never reads (or whose network vanished without a reset)
 * would otherwise hold each slot for as long as the connection stays open. Any byte the reader
 * takes starts the wait again, so a slow reader is never cut off; 30 s outlasts the pauses of one
 * that is reading (a congested or mobile link, a garbage collection) and the hub's own read of a
 * batch.
 */
export const EXPORT_STALL_TIMEOUT_MS = 30_000;

/**
 * Cuts a streamed response off once its connection has moved no byte for `timeoutMs`, with Node's
 * socket timeout. A write that a reader taking nothing holds back in the buffers does not move;
 * every byte the reader takes starts the wait again (Node waits once more when the kernel took
 * bytes since the last write, so the cut comes one to two timeouts after the last byte moved).
 * Destroying the response closes its body (see `releasedBody`), which frees what it held.
 */
export function cutOffWhenStalled(request: FastifyRequest, reply: FastifyReply, timeoutMs: number): void {
  reply.raw.setTimeout(timeoutMs, () => {
    request.log.info({ url: loggedRequest(request).url }, 'export aborted: its connection moved no byte for %d ms', timeoutMs);
    reply.raw.destroy();
  });
}
