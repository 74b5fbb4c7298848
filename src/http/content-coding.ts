import type { FastifyInstance } from 'fastify';

/** A body's Content-Encoding that leaves it as it is: none given, or `identity`. */
const IDENTITY = /^\s*identity\s*$/i;

/**
 * Refuses every request body sent with a content coding (RFC 9110 §8.4), as 415 naming the one
 * coding the hub takes in `Accept-Encoding` (§12.5.3). The hub decodes none: read as it came, a
 * compressed body would fail as malformed JSON or form data, and one merely labelled with a coding
 * would be served though the label says its bytes are not what they seem. Refused before the body
 * is read, as the body limit refuses; on the OAuth endpoints through their own error handler, so
 * the refusal is counted against the address's allowance and audited as a 415 of a media type is.
 */
export function refuseContentCodings(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, reply, payload) => {
    const coding = request.headers['content-encoding'];
    if (coding === undefined || IDENTITY.test(coding) || !hasBody(request.headers)) return payload;
    reply.header('accept-encoding', 'identity');
    throw Object.assign(new Error('a request body with a content coding is not accepted; send it uncompressed'), { statusCode: 415 });
  });
}

/** True when the request carries a body (RFC 9112 §6.3): chunked, or a Content-Length above 0. */
const hasBody = (headers: { 'transfer-encoding'?: string; 'content-length'?: string }) =>
  headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
