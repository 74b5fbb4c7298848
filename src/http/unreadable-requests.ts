import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** The status and words of the answer to a request Node's parser refused, by Node's code; anything else is a 400. */
const UNREADABLE_REQUESTS: Readonly<Record<string, readonly [number, string]>> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request did not arrive in time: headers within 10 s, the whole request within 30 s'],
  HPE_HEADER_OVERFLOW: [431, "the request's headers are too large"],
};

/**
 * A request Node's HTTP parser could not read (a malformed request line or header, headers past
 * its limit) or that did not arrive in time, refused before any route or hook: Fastify's own
 * answer is `{"error":"Bad Request","message":…}`, no code of RFC 6749 §5.2, so this one is the
 * routes' `invalid_request` in their JSON, not stored, the route unknown. Requests pipelined ahead
 * of it on the connection are answered first, in their order (RFC 9112 §9.3.2): Node's own handler
 * writes its refusal ahead of an answer still being made, which the client then takes for that
 * answer. Then the connection is closed. Logged at trace, as Fastify's own handler does: mostly a
 * balancer's or a scanner's noise.
 */
export function answerUnreadableRequest(this: FastifyInstance, error: Error & { code?: string }, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed || refusing.has(socket)) return;
  refusing.add(socket);
  this.log.trace({ err: error }, 'client error');
  refuseInTurn(socket, error);
}

/** Connections whose unreadable request is being refused, answered once however often the parser complains. */
const refusing = new WeakSet<Socket>();

/**
 * Writes the refusal of `error` once no answer to a request received whole is in flight on
 * `socket`, then closes it. Node hands the connection from each pipelined answer to the next as the
 * former finishes, before this waits on the next; an answer cut off closes the connection, and
 * nothing is left to write. The answer to a request whose body did not arrive (in time, or
 * readable) is the refused request's own, never to come: the refusal takes its place unless it
 * has begun, as in Node's own handler.
 */
function refuseInTurn(socket: Socket, error: Error & { code?: string }): void {
  if (socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight?.req.complete) {
    inFlight.once('finish', () => refuseInTurn(socket, error));
    return;
  }
  if (socket.writable && !inFlight?.headersSent) {
    const [status, description] = UNREADABLE_REQUESTS[error.code ?? ''] ?? [400, 'the request could not be read as HTTP/1.1'];
    const body = JSON.stringify({ error: 'invalid_request', error_description: description });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
