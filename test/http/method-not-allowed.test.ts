import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { Hub } from '../../src/app.js';
import { startListeningHub, startTestHub } from '../helpers/hub.js';

const FRONTEND = 'https://app.example.com';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub({ HUB_CORS_ORIGINS: FRONTEND });
});
afterAll(() => hub.close());

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';

const ask = (method: Method, url: string, headers: Record<string, string> = {}, payload?: string) => hub.http.inject({ method, url, headers, ...(payload !== undefined && { payload }) });

/** The methods an answer's Allow field names (RFC 9110 §10.2.1). */
const allowOf = (response: LightMyRequestResponse) =>
  String(response.headers.allow ?? '')
    .split(',')
    .map((method) => method.trim())
    .filter(Boolean);

/** A known path asked with a method none of its routes takes, as clients and scanners do. */
const REFUSED: readonly (readonly [Method, string])[] = [
  ['DELETE', '/oauth/token'],
  ['GET', '/oauth/token'],
  ['HEAD', '/oauth/introspect'],
  ['PUT', '/oauth/revoke'],
  ['POST', '/jwks.json'],
  ['DELETE', '/receipts/jwks.json'],
  ['POST', '/.well-known/oauth-authorization-server'],
  ['PATCH', '/.well-known/oauth-protected-resource/graphql'],
  ['PUT', '/audiences/aud_01J00000000000000000000000/export'],
  ['DELETE', '/users/usr_01J00000000000000000000000/export'],
  ['POST', '/metrics'],
  ['POST', '/healthz'],
  ['DELETE', '/readyz'],
  // A method Fastify routes none of, and an OPTIONS that is no CORS preflight.
  ['PURGE' as Method, '/oauth/token'],
  ['OPTIONS', '/oauth/revoke'],
];

describe('a known path asked with a method it does not take', () => {
  it.each(REFUSED)('%s %s is 405 with the methods the path takes in Allow, each of which the path answers', async (method, url) => {
    const response = await ask(method, url);
    expect(response.statusCode).toBe(405);
    const allowed = allowOf(response);
    expect(allowed.length).toBeGreaterThan(0);
    expect(allowed).not.toContain(method);
    // Allow names what the path takes: none of its methods is refused as unknown or not allowed.
    for (const other of allowed) expect([404, 405]).not.toContain((await ask(other as Method, url)).statusCode);
    if (method !== 'HEAD') {
      expect(response.json()).toEqual({ error: 'method_not_allowed', error_description: expect.stringContaining(allowed.join(', ')) });
    }
  });

  it('lists HEAD beside GET, as the router takes it, and only POST at the token endpoint', async () => {
    expect(allowOf(await ask('POST', '/jwks.json'))).toEqual(['GET', 'HEAD']);
    expect(allowOf(await ask('GET', '/oauth/token'))).toEqual(['POST']);
  });

  it('is never stored at the OAuth endpoints, and names neither the query nor its values', async () => {
    const response = await ask('DELETE', '/oauth/token?client_secret=LEAKED-SECRET-405');
    expect(response.statusCode).toBe(405);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers.pragma).toBe('no-cache');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.body).not.toContain('LEAKED-SECRET');
    expect(response.body).not.toContain('client_secret');
  });

  it('is answered at /graphql as Apollo answers the methods it refuses: 405, the same Allow, a GraphQL error', async () => {
    const apollo = await ask('OPTIONS', '/graphql', { 'content-type': 'application/json' }, '{"query":"{ __typename }"}');
    expect(apollo.statusCode).toBe(405);
    for (const method of ['PUT', 'DELETE', 'PATCH', 'HEAD'] as const) {
      const response = await ask(method, '/graphql', { 'content-type': 'application/json' }, method === 'HEAD' ? undefined : '{"query":"{ __typename }"}');
      expect(response.statusCode, method).toBe(405);
      expect(allowOf(response), method).toEqual(allowOf(apollo));
      expect(response.headers['cache-control']).toBe('no-store');
      if (method !== 'HEAD') expect(response.json()).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'BAD_USER_INPUT' } }] });
    }
  });
});

describe('what is not a known path with another method', () => {
  it('a path no route takes is still 404 not_found, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE'] as const) {
      for (const url of ['/oauth/tokens', '/.well-known/openid-configuration', '/users/usr_01J00000000000000000000000']) {
        const response = await ask(method, url);
        expect(response.statusCode, `${method} ${url}`).toBe(404);
        expect(response.headers.allow).toBeUndefined();
        expect(response.json().error).toBe('not_found');
      }
    }
  });

  it('a path the router cannot read names no methods, though the router refuses it for every method it has routes of', async () => {
    // PURGE is a method Fastify routes none of: its request reaches the not-found handler unread.
    for (const method of ['PUT', 'PURGE'] as const) {
      for (const url of ['/nowhere/%ff', '/users/%ff/export']) {
        const response = await ask(method as Method, url);
        expect(response.statusCode, `${method} ${url}`).not.toBe(405);
        expect(response.headers.allow).toBeUndefined();
      }
    }
  });

  it('a preflight from an allowed origin is still answered by CORS', async () => {
    const response = await ask('OPTIONS', '/oauth/token', { origin: FRONTEND, 'access-control-request-method': 'POST' });
    expect(response.statusCode).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(FRONTEND);
  });

  it('a request the hub refuses is labelled in the metrics by route pattern or unmatched, never by its path', async () => {
    const paths = ['/oauth/token', '/jwks.json', '/users/usr_01J0000000000000000000LABEL/export', '/nowhere/usr_01J0000000000000000000LABEL'];
    for (const url of paths) await ask('PUT', url);
    const counted = await hub.services.metrics.registry.getSingleMetric('http_requests_total')!.get();
    const routes = new Set(counted.values.map((sample) => String(sample.labels.route)));
    for (const route of routes) expect(route === 'unmatched' || hub.http.hasRoute({ url: route, method: 'GET' }) || hub.http.hasRoute({ url: route, method: 'POST' }) || route === '*').toBe(true);
    for (const route of routes) expect(route).not.toContain('LABEL');
  });
});

/** `method target` sent as is over a connection of its own (an injected request loses its fragment), and the answer's status line and body. */
async function sendRaw(port: number, method: string, target: string): Promise<{ status: string; body: string }> {
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk));
  await once(socket, 'connect');
  socket.write(`${method} ${target} HTTP/1.1\r\nHost: hub.test\r\nConnection: close\r\n\r\n`);
  await once(socket, 'close');
  const [head = '', body = ''] = answer.split('\r\n\r\n', 2);
  return { status: head.split('\r\n', 1)[0]!, body };
}

describe('a known path with a fragment, asked with a method it does not take', () => {
  // The router reads the path up to a `#` as well as a `?`: what follows it is no part of the
  // path, whatever its bytes, and a scanner sends any.
  it('is 405 with Allow, as without the fragment, never a server error', async () => {
    const { hub: listening, port } = await startListeningHub();
    try {
      for (const target of ['/oauth/token#%ff', '/graphql#%zz', '/users/usr_01J00000000000000000000000/export#%e0%80']) {
        const { status, body } = await sendRaw(port, 'DELETE', target);
        expect(status, target).toMatch(/^HTTP\/1\.1 405 /);
        expect(body, target).not.toContain('%');
      }
    } finally {
      await listening.close();
    }
  });
});
