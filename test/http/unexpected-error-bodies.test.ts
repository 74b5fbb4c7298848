import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub } from '../../src/app.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/db/availability.js';
import { startTestHub } from '../helpers/hub.js';
import { basic, operatorCredentials } from '../helpers/oauth.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => hub.close());

const internal = () => new Error('relation "agents" does not exist at /srv/hub/src/db.ts:42');
const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

/** A request to an OAuth endpoint that gets as far as client authentication. */
const oauthRequest = (url: string) =>
  hub.http.inject({
    method: 'POST',
    url,
    headers: { ...basic(operatorCredentials(hub)), 'content-type': 'application/x-www-form-urlencoded' },
    payload: url === '/oauth/token' ? 'grant_type=client_credentials' : 'token=abc',
  });

describe('an OAuth endpoint that fails unexpectedly', () => {
  it.each(['/oauth/token', '/oauth/introspect', '/oauth/revoke'])('answers %s with 500 server_error in RFC 6749 §5.2 shape, not stored, and no detail', async (url) => {
    vi.spyOn(hub.services.agents, 'authenticateClient').mockRejectedValue(internal());
    const response = await oauthRequest(url);
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: 'server_error', error_description: 'Internal server error' });
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).not.toMatch(/agents|srv|db\.ts/);
  });

  it('answers a database out of reach with 503 temporarily_unavailable and Retry-After, not stored', async () => {
    vi.spyOn(hub.services.agents, 'authenticateClient').mockRejectedValue(unreachable());
    const response = await oauthRequest('/oauth/token');
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe(String(DATABASE_RETRY_AFTER_SECONDS));
    expect(response.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'Service unavailable; retry later' });
    expect(response.headers['cache-control']).toBe('no-store');
  });
});

describe('a route outside GraphQL and OAuth that fails unexpectedly', () => {
  it('answers in the same shape, as the exports answer their own refusals', async () => {
    vi.spyOn(hub.services.keys, 'jwks').mockImplementation(() => {
      throw unreachable();
    });
    const response = await hub.http.inject({ method: 'GET', url: '/jwks.json' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'Service unavailable; retry later' });
  });

  it('answers a body it cannot parse as invalid_request, naming no internal code', async () => {
    const response = await hub.http.inject({ method: 'POST', url: '/users/usr_x/export', headers: { 'content-type': 'application/json' }, payload: '{' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
  });
});

describe('a path the router cannot read', () => {
  const long = `/users/usr_${'x'.repeat(5_000)}/export`;
  for (const [url, description] of [
    ['/users/%ff/export', 'the path is not percent-encoded UTF-8'],
    ['/audiences/%ff/export?access_token=LEAKED-TOKEN', 'the path is not percent-encoded UTF-8'],
    ['/oauth/token/%ff', 'the path is not percent-encoded UTF-8'],
    [long, 'an id in the path is too long'],
  ] as const) {
    it(`answers GET ${url.slice(0, 40)} with 400 invalid_request in RFC 6749 §5.2 shape, not stored, echoing none of the URL`, async () => {
      const response = await hub.http.inject({ method: 'GET', url, headers: { 'x-request-id': 'bad-path-1' } });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: 'invalid_request', error_description: description });
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers['x-request-id']).toBe('bad-path-1');
    });
  }
});
