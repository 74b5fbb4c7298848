import { afterAll, describe, expect, it, vi } from 'vitest';
import { startTestHub } from '../helpers/hub.js';
import { basic, operatorToken, registerAgent, type ClientCredentials } from '../helpers/oauth.js';

// One throttle serves /oauth/token, /oauth/introspect and /oauth/revoke. It bounds secret
// guessing per client and address, and floods per address (malformed requests included),
// without letting anyone who merely names a client spend that client's allowance.

const RATE = 1;
const hub = await startTestHub({ HUB_TOKEN_RATE_LIMIT: String(RATE) });
afterAll(() => hub.close());
const admin = await operatorToken(hub);
const victim = await registerAgent(hub, admin, { name: 'Victim', allowedScopes: ['orders:read'] });
const neighbour = await registerAgent(hub, admin, { name: 'Neighbour', allowedScopes: ['orders:read'] });

/** A POST of `payload` to an OAuth endpoint from `address`, a form unless `headers` say otherwise. */
async function post(url: string, address: string, payload: string, headers: Record<string, string> = {}) {
  const response = await hub.http.inject({
    method: 'POST',
    url,
    remoteAddress: address,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload,
  });
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body || 'null') };
}

/** A token request from `address`, as a client there would send it. */
const tokenRequest = (address: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  post('/oauth/token', address, new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString(), headers);

const withSecret = (address: string, client: ClientCredentials) => tokenRequest(address, {}, basic(client));
const statuses = async (count: number, send: (i: number) => Promise<{ status: number }>) => {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) seen.push((await send(i)).status);
  return seen;
};

describe('a client_id longer than any client has', () => {
  const long = `agt_${'x'.repeat(16_000)}`;

  it('is invalid_client before any lookup, and spends its address’s bucket, never a bucket of its own', async () => {
    const first = await tokenRequest('10.0.1.1', { client_id: long, client_secret: 'guess' });
    expect(first.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(first.headers['www-authenticate']).toMatch(/^Basic /);
    expect(await statuses(2, () => tokenRequest('10.0.1.1', { client_id: long, client_secret: 'guess' }))).toEqual([429, 429]);
    expect((await tokenRequest('10.0.1.1', { client_id: victim.clientId })).status).toBe(429);
    expect((await withSecret('10.0.1.1', victim)).status).toBe(200);
  });

  it('is refused the same way without a secret and in HTTP Basic', async () => {
    expect((await tokenRequest('10.0.1.2', { client_id: long })).body.error).toBe('invalid_client');
    expect((await withSecret('10.0.1.4', { clientId: long, clientSecret: 'guess' })).body.error).toBe('invalid_client');
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
    // Another client's bucket is its own, but a made-up id meets the address's failed
    // authentications, which the first guess spent (see below).
    expect((await withSecret('10.0.3.1', { clientId: 'agt_someone_else', clientSecret: 'x' })).status).toBe(429);
    expect((await tokenRequest('10.0.3.1', { client_id: victim.clientId })).status).toBe(401);
  });
});

describe('failed client authentications', () => {
  const madeUp = (i: number) => ({ clientId: `agt_made_up_${i}`, clientSecret: 'guess' });
  const refusalsOf = async (prefix: string) => {
    await hub.services.audit.flush();
    return hub.database.db.selectFrom('audit_events').select(['request_id', 'reason']).where('action', '=', 'token.refused').where('request_id', 'like', `${prefix}%`).orderBy('request_id').execute();
  };

  it('are throttled per address whatever client id each names, before the client is looked up, and audited once per run', async () => {
    const lookup = vi.spyOn(hub.services.agents, 'authenticateClient');
    try {
      const seen = await statuses(RATE + 3, (i) => tokenRequest('10.0.6.1', {}, { ...basic(madeUp(i)), 'x-request-id': `cycle-${i}` }));
      expect(seen).toEqual([...Array(RATE).fill(401), 429, 429, 429]);
      expect(lookup).toHaveBeenCalledTimes(RATE);
    } finally {
      lookup.mockRestore();
    }
    const refused = await withSecret('10.0.6.1', madeUp(99));
    expect(refused.body).toEqual({ error: 'slow_down', error_description: expect.stringMatching(/^too many requests/) });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['cache-control']).toBe('no-store');
    expect(await refusalsOf('cycle-')).toEqual([
      { request_id: 'cycle-0', reason: 'invalid_client: unknown client' },
      { request_id: 'cycle-1', reason: 'slow_down: rate limited' },
    ]);
    // Another address has an allowance of its own.
    expect((await withSecret('10.0.6.9', madeUp(0))).status).toBe(401);
  });

  it('count wrong secrets of a real client too, on every endpoint', async () => {
    expect((await post('/oauth/introspect', '10.0.6.2', 'token=anything', basic({ clientId: victim.clientId, clientSecret: 'wrong' }))).status).toBe(401);
    expect((await post('/oauth/revoke', '10.0.6.2', 'token=anything', basic(madeUp(1)))).status).toBe(429);
  });

  it('leave the clients that authenticated from the address alone: they go on while it keeps failing', async () => {
    expect((await withSecret('10.0.6.3', victim)).status).toBe(200);
    // Time for the client's own bucket to refill (the throttle keeps the process's monotonic time).
    await new Promise((resolve) => setTimeout(resolve, 1_000 / RATE + 50));
    expect(await statuses(RATE + 2, (i) => withSecret('10.0.6.3', madeUp(i)))).toEqual([...Array(RATE).fill(401), 429, 429]);
    expect((await withSecret('10.0.6.3', victim)).status).toBe(200);
    // One that never authenticated there cannot be told from a made-up one without the database:
    // it waits, as they do, until the failures stop.
    expect((await withSecret('10.0.6.3', neighbour)).status).toBe(429);
  });

  it('are not charged for clients that authenticate: many agents behind one address never spend it', async () => {
    expect((await withSecret('10.0.6.4', victim)).status).toBe(200);
    expect((await withSecret('10.0.6.4', neighbour)).status).toBe(200);
    expect(await statuses(RATE + 1, (i) => withSecret('10.0.6.4', madeUp(i)))).toEqual([...Array(RATE).fill(401), 429]);
  });

  it('are apart from requests without a secret: a flood of those leaves a new client its first authentication', async () => {
    expect(await statuses(RATE + 1, (i) => tokenRequest('10.0.6.5', { client_id: `agt_made_up_${i}` }))).toEqual([...Array(RATE).fill(401), 429]);
    expect((await withSecret('10.0.6.5', neighbour)).status).toBe(200);
  });
});

describe('/oauth/introspect and /oauth/revoke', () => {
  const introspect = (address: string, client: ClientCredentials) => post('/oauth/introspect', address, 'token=anything', basic(client));
  const revoke = (address: string, client: ClientCredentials) => post('/oauth/revoke', address, 'token=anything', basic(client));

  it('spend the same bucket as the token endpoint: guessing a secret there stops at the rate too', async () => {
    const guess = { clientId: victim.clientId, clientSecret: 'not-the-secret' };
    expect(await statuses(RATE + 2, () => introspect('10.0.4.1', guess))).toEqual([...Array(RATE).fill(401), 429, 429]);
    const refused = await revoke('10.0.4.1', guess);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: 'slow_down', error_description: expect.stringMatching(/^too many requests/) });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['cache-control']).toBe('no-store');
    expect((await withSecret('10.0.4.1', guess)).status).toBe(429);
    expect((await introspect('10.0.4.2', guess)).status).toBe(401);
    expect((await introspect('10.0.4.3', victim)).body).toEqual({ active: false });
  });
});

describe('a flood of malformed requests', () => {
  const long = `agt_${'x'.repeat(200)}`;
  const MALFORMED: [string, string, Record<string, string>][] = [
    ['/oauth/token', 'grant_type=client_credentials&grant_type=password', {}],
    ['/oauth/introspect', '{"token":"anything"}', { 'content-type': 'application/json' }],
    ['/oauth/revoke', 'token=anything', { authorization: 'Basic not-base64!' }],
    ['/oauth/token', `grant_type=client_credentials&client_secret=guess`, basic(victim)],
    ['/oauth/introspect', `token=anything&client_id=${long}&client_secret=guess`, {}],
  ];

  it('is throttled per address on every endpoint, and its run of 429s is audited once', async () => {
    const seen = await statuses(MALFORMED.length * 2, (i) => {
      const [url, payload, headers] = MALFORMED[i % MALFORMED.length]!;
      return post(url, '10.0.5.1', payload, { ...headers, 'x-request-id': `flood-${String(i).padStart(2, '0')}` });
    });
    expect(seen).toEqual([...Array(RATE).fill(400), ...Array(MALFORMED.length * 2 - RATE).fill(429)]);
    await hub.services.audit.flush();
    const refusals = await hub.database.db
      .selectFrom('audit_events')
      .select(['request_id', 'reason'])
      .where('action', '=', 'token.refused')
      .where('request_id', 'like', 'flood-%')
      .orderBy('request_id')
      .execute();
    expect(refusals).toEqual([
      { request_id: 'flood-00', reason: 'invalid_request: parameter grant_type must appear once' },
      { request_id: 'flood-01', reason: 'slow_down: rate limited' },
    ]);
  });

  it('counts what the framework refuses before any endpoint sees it (a media type it cannot read, a body over the limit)', async () => {
    const unreadable: [string, string, Record<string, string>][] = [
      ['/oauth/token', '<grant_type>client_credentials</grant_type>', { 'content-type': 'text/xml' }],
      ['/oauth/introspect', `token=${'x'.repeat(17 * 1024)}`, {}],
      ['/oauth/revoke', '<token/>', { 'content-type': 'text/xml' }],
    ];
    const seen = await statuses(unreadable.length, (i) => {
      const [url, payload, headers] = unreadable[i]!;
      return post(url, '10.0.5.2', payload, { ...headers, 'x-request-id': `unread-${i}` });
    });
    expect(seen).toEqual([415, ...Array(unreadable.length - 1).fill(429)]);
    expect((await tokenRequest('10.0.5.2', { client_id: victim.clientId })).status).toBe(429);
    expect((await withSecret('10.0.5.2', victim)).status).toBe(200);
    await hub.services.audit.flush();
    const refusals = await hub.database.db
      .selectFrom('audit_events')
      .select(['request_id', 'reason'])
      .where('action', '=', 'token.refused')
      .where('request_id', 'like', 'unread-%')
      .orderBy('request_id')
      .execute();
    expect(refusals).toEqual([
      { request_id: 'unread-0', reason: 'invalid_request: Unsupported Media Type' },
      { request_id: 'unread-1', reason: 'slow_down: rate limited' },
    ]);
  });

  it('cannot lock a client out: at the flooded address, it still gets its token', async () => {
    expect((await tokenRequest('10.0.5.1', { client_id: victim.clientId })).status).toBe(429);
    expect((await withSecret('10.0.5.1', victim)).status).toBe(200);
  });
});

describe('an IPv6 client', () => {
  it('guesses a client’s secret no faster by moving to another address of its /64', async () => {
    const guess = { clientId: victim.clientId, clientSecret: 'a wrong guess' };
    const seen = await statuses(RATE + 2, (i) => withSecret(`2001:db8:5:6::${(i + 1).toString(16)}`, guess));
    expect(seen).toEqual([...Array(RATE).fill(401), 429, 429]);
    // The next subscriber's /64 has a bucket of its own.
    expect((await withSecret('2001:db8:5:7::1', victim)).status).toBe(200);
  });
});
