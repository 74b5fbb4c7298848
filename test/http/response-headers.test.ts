import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { startListeningHub } from '../helpers/hub.js';
import { sendRaw } from '../helpers/net.js';

// Every answer is JSON (or Prometheus text, or nothing) that a browser must never read as
// anything else: the 404 names the path it was asked for, an error names what the caller sent.
// `X-Content-Type-Options: nosniff` holds a browser to the type the hub declares (Fetch §3.5).

let hub: Hub;
let port: number;
beforeAll(async () => {
  ({ hub, port } = await startListeningHub({ HUB_CORS_ORIGINS: 'https://app.example.com' }));
});
afterAll(() => hub.close());

describe('every answer', () => {
  it.each([
    ['a document', { method: 'GET', url: '/jwks.json' }],
    ['a GraphQL answer', { method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: { query: '{ __typename }' } }],
    ['a refused token', { method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', authorization: 'Bearer nope' }, payload: { query: '{ me { id } }' } }],
    ['an OAuth error', { method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials' }],
    ['a path no route takes', { method: 'GET', url: '/%3Chtml%3E' }],
    ['a path the router cannot read', { method: 'GET', url: '/users/%ff/export' }],
    ['a preflight', { method: 'OPTIONS', url: '/graphql', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } }],
  ] satisfies [string, InjectOptions][])('tells browsers not to sniff %s', async (_what, request) => {
    const response = await hub.http.inject(request);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('tells browsers not to sniff a request the parser refused', async () => {
    const answer = await sendRaw(port, 'GET /<html> HTTP/1.1\r\nHost: hub\r\nX-A: a\r\n b\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer.toLowerCase()).toContain('\r\nx-content-type-options: nosniff\r\n');
  });
});
