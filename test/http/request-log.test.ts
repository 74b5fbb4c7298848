import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { cutOffWhenStalled } from '../../src/http/released-body.js';
import { createLogger } from '../../src/shared/logger.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV } from '../helpers/hub.js';

const lines: string[] = [];
let hub: Hub;
beforeAll(async () => {
  const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: 'info' });
  hub = await createHub(config, { database: await createTestDatabase(), logger: createLogger(config, { write: (line: string) => lines.push(line) }) });
});
afterAll(() => hub.close());

describe('the request log', () => {
  it('shows the path and the names of query parameters, never their values', async () => {
    await hub.http.inject({ method: 'POST', url: '/oauth/token?client_id=agt_someone&client_secret=LEAKED-SECRET-123', payload: 'grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const query = 'mutation { signIn(input: { email: "leaked@example.com", password: "LEAKED-PASSWORD-123" }) { accessToken } }';
    await hub.http.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(query)}`, headers: { 'apollo-require-preflight': '1' } });

    const logged = lines.join('');
    for (const secret of ['LEAKED-SECRET-123', 'LEAKED-PASSWORD-123', 'leaked@example.com', 'agt_someone']) expect(logged).not.toContain(secret);
    const urls = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'incoming request').map((entry) => entry.req.url);
    expect(urls).toEqual(['/oauth/token?client_id=…&client_secret=…', '/graphql?query=…']);
  });

  it('logs a request to no route by its path as well, and answers it 404, or 405 for a known path, with no-store', async () => {
    for (const [url, status, error] of [['/oauth/tokens?client_secret=LEAKED-SECRET-456', 404, 'not_found'], ['/oauth/token?client_secret=LEAKED-SECRET-789', 405, 'method_not_allowed']] as const) {
      const response = await hub.http.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(status);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.json()).toEqual({ error, error_description: expect.stringContaining(url.split('?')[0]!) });
      expect(response.body).not.toContain('LEAKED-SECRET-');
    }
    expect(lines.join('')).not.toContain('LEAKED-SECRET-');
  });

  it('shows an export cut off for stalling by its path and the names of its query parameters too', () => {
    const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: 'info' });
    const own: string[] = [];
    const request = { method: 'GET', url: '/users/usr_someone/export?access_token=LEAKED-TOKEN-321', log: createLogger(config, { write: (line: string) => own.push(line) }) };
    let destroyed = false;
    // A connection that moved no byte for the timeout: the socket's timeout fires.
    const reply = { raw: { setTimeout: (_ms: number, fire: () => void) => fire(), destroy: () => void (destroyed = true) } };
    cutOffWhenStalled(request as unknown as FastifyRequest, reply as unknown as FastifyReply, 30_000);
    expect(destroyed).toBe(true);
    expect(own.map((line) => JSON.parse(line)).map((entry) => [entry.msg, entry.url])).toEqual([
      ['export aborted: its connection moved no byte for 30000 ms', '/users/usr_someone/export?access_token=…'],
    ]);
  });
});

describe('the log of refused bearer tokens', () => {
  it('names why each was refused, under the request id the client saw, never the token', async () => {
    // Signed with the hub's own key, living a year where tokens live 600 s: only a holder of the
    // private key makes that, so the reason is what an operator must be able to find.
    const now = Math.floor(Date.now() / 1_000);
    const key = hub.services.keys.signingKey();
    const claims = { iss: hub.config.issuer, aud: hub.config.audience, sub: 'agt_01J0000000000000000000FRGD', client_id: 'agt_01J0000000000000000000FRGD', scope: 'audit:read', iat: now, exp: now + 365 * 86_400, jti: randomUUID() };
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid }).sign(key.privateKey);
    const cases = [
      { url: '/metrics', token: forged, reason: 'token lifetime too long' },
      { url: '/graphql?query=%7Bme%7Bid%7D%7D', token: 'NOT.A.TOKEN', reason: 'malformed token' },
    ];
    for (const { url, token, reason } of cases) {
      const response = await hub.http.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': '1' } });
      expect(response.statusCode).toBe(401);
      const entries = lines.map((line) => JSON.parse(line)).filter((entry) => entry.reqId === response.headers['x-request-id']);
      expect(entries.find((entry) => entry.msg === 'bearer token refused')).toMatchObject({ level: 30, reason });
    }
    expect(lines.join('')).not.toContain(forged.split('.')[2]);
  });
});
