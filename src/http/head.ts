import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

/**
 * Ends the answer to a HEAD with the headers set so far, once the route has made the checks its GET
 * makes and before it makes any of the content (RFC 9110 §9.3.2: a HEAD is a GET without content,
 * and safe). Fastify runs a GET's handler for its HEAD and drops the content, so a route whose GET
 * reads, audits or holds something for its content answers its HEAD with this instead. An empty
 * stream, not `send()`: Fastify's HEAD answer to no content says `Content-Length: 0`, which a
 * client takes for the GET's length (§8.6), and these contents' length is known only once made.
 */
export function answerHeadersOnly(reply: FastifyReply): FastifyReply {
  return reply.send(Readable.from([]));
}
