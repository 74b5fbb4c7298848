import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { startListeningHub } from '../helpers/hub.js';
import { parseRawAnswer, sendRaw } from '../helpers/net.js';

// A request Node's HTTP parser cannot read, or that does not arrive in time, never reaches a route:
// its answer is still the routes' RFC 6749 §5.2 JSON, as README promises for every error.

let hub: Hub;
let port: number;
beforeAll(async () => {
  ({ hub, port } = await startListeningHub());
});
afterAll(() => hub.close());

describe('a request the hub cannot read', () => {
  it.each([
    ['a request line that is no HTTP', 'NOT HTTP AT ALL\r\n\r\n', 400],
    ['a Content-Length that is no number', 'POST /oauth/token HTTP/1.1\r\nHost: hub\r\nContent-Length: abc\r\n\r\n', 400],
    ['headers past the parser’s limit', `GET /graphql HTTP/1.1\r\nHost: hub\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request with no Host, or more than one.
    ['an HTTP/1.1 request with no Host', 'GET /healthz HTTP/1.1\r\n\r\n', 400],
    ['a request with two Host fields', 'GET /healthz HTTP/1.1\r\nHost: hub\r\nHost: other\r\n\r\n', 400],
  ])('answers %s in RFC 6749 §5.2 shape, not stored', async (_name, raw, status) => {
    const answer = parseRawAnswer(await sendRaw(port, raw));
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers.connection).toMatch(/^close$/i);
  });

  it('answers headers that take longer than 10 s with 408 in the same shape', async () => {
    const answer = parseRawAnswer(await sendRaw(port, 'POST /oauth/token HTTP/1.1\r\nHost: hub\r\n'));
    expect(answer.status).toBe(408);
    expect(answer.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    expect(answer.headers['cache-control']).toBe('no-store');
  }, 30_000);

  // A client may send requests one after another without waiting (pipelining); each answer must
  // come in the order of its request (RFC 9112 §9.3.2), else the client takes one request's
  // refusal for another's answer. /readyz answers after a database round trip, so its answer is
  // still being made when the parser meets what follows it.
  it('answers requests pipelined ahead of one it cannot read first, in their order', async () => {
    const answer = await sendRaw(port, 'GET /readyz HTTP/1.1\r\nHost: hub\r\n\r\nGET /readyz HTTP/1.1\r\nHost: hub\r\n\r\nNOT HTTP AT ALL\r\n\r\n');
    expect(answer.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 400']);
  });
});
