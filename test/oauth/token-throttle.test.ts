import { afterAll, describe, expect, it } from 'vitest';
import { startTestHub } from '../helpers/hub.js';
import { basic, operatorToken, registerAgent, type ClientCredentials } from '../helpers/oauth.js';

// The token endpoint's throttle bounds secret guessing per client and address, and floods per
// address, without letting anyone who merely names a client spend that client's allowance.

const RATE = 1;
const hub = await startTestHub({ HUB_TOKEN_RATE_LIMIT: String(RATE) });
afterAll(() => hub.close());
const victim = await registerAgent(hub, await operatorToken(hub), { name: 'Victim', allowedScopes: ['orders:read'] });

/** A token request from `address`, as a client there would send it. */
async function tokenRequest(address: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await hub.http.inject({
    method: 'POST',
    url: '/oauth/token',
    remoteAddress: address,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString(),
  });
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) };
}

const withSecret = (address: string, client: ClientCredentials) => tokenRequest(address, {}, basic(client));
const statuses = async (count: number, send: (i: number) => Promise<{ status: number }>) => {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) seen.push((await send(i)).status);
  return seen;
};

describe('a client_id longer than any client has', () => {
  const long = `agt_${'x'.repeat(16_000)}`;

  it('is invalid_client before the throttle, so it never gets a bucket of its own', async () => {
    const seen = await statuses(RATE * 3, () => tokenRequest('10.0.1.1', { client_id: long, client_secret: 'guess' }));
    expect(seen).toEqual(Array(RATE * 3).fill(401));
    const last = await tokenRequest('10.0.1.1', { client_id: long, client_secret: 'guess' });
    expect(last.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(last.headers['www-authenticate']).toMatch(/^Basic /);
  });

  it('is refused the same way without a secret and in HTTP Basic', async () => {
    expect((await tokenRequest('10.0.1.2', { client_id: long })).body.error).toBe('invalid_client');
    expect((await withSecret('10.0.1.2', { clientId: long, clientSecret: 'guess' })).body.error).toBe('invalid_client');
  });

  it('is not what a 128-character id meets: that one is throttled like any other', async () => {
    const longest = { clientId: `agt_${'y'.repeat(124)}`, clientSecret: 'guess' };
    expect(await statuses(RATE + 2, () => withSecret('10.0.1.3', longest))).toEqual([...Array(RATE).fill(401), 429, 429]);
  });
});

describe('requests that present no secret', () => {
  it('cannot lock a client out by naming it: the client, at the same address, still gets its token', async () => {
    const named = await statuses(RATE * 3, () => tokenRequest('10.0.2.1', { client_id: victim.clientId }));
    expect(named).toContain(429);
    const own = await withSecret('10.0.2.1', victim);
    expect(own.status).toBe(200);
    expect(own.body.access_token).toEqual(expect.any(String));
  });

  it('are throttled per address, whatever client id each one names', async () => {
    const seen = await statuses(RATE + 2, (i) => tokenRequest('10.0.2.2', { client_id: `agt_made_up_${i}` }));
    expect(seen).toEqual([...Array(RATE).fill(401), 429, 429]);
    expect((await tokenRequest('10.0.2.3', { client_id: 'agt_made_up_0' })).status).toBe(401);
  });
});

describe('requests that present a secret', () => {
  it('are throttled per client and address: guessing one client’s secret from one address stops at the rate', async () => {
    const guess = { clientId: victim.clientId, clientSecret: 'not-the-secret' };
    const seen = await statuses(RATE + 2, () => withSecret('10.0.3.1', guess));
    expect(seen).toEqual([...Array(RATE).fill(401), 429, 429]);
    const refused = await withSecret('10.0.3.1', guess);
    expect(refused.body).toEqual({ error: 'slow_down', error_description: expect.stringMatching(/^too many requests/) });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await withSecret('10.0.3.2', guess)).status).toBe(401);
    expect((await withSecret('10.0.3.1', { clientId: 'agt_someone_else', clientSecret: 'x' })).status).toBe(401);
    expect((await tokenRequest('10.0.3.1', { client_id: victim.clientId })).status).toBe(401);
  });
});
