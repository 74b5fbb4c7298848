import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, postForm, startTestHub } from '../helpers/hub.js';
import { basic, claimsOf, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let agent: RegisteredAgent;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  agent = await registerAgent(hub, admin, { name: 'Reporting service', kind: 'SERVICE', allowedScopes: ['profile:read', 'orders:read', 'audit:read'] });
});
afterAll(() => hub.close());

const token = (form: Record<string, string | readonly string[]>, headers: Record<string, string> = {}) => postForm(hub, '/oauth/token', { grant_type: 'client_credentials', ...form }, headers);

describe('grant_type=client_credentials', () => {
  it('issues an RFC 9068 token with client_secret_basic: sub and client_id are the agent, scope defaults to its ceiling', async () => {
    const response = await token({}, basic(agent));
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600, scope: 'profile:read orders:read audit:read' });
    expect(response.body.refresh_token).toBeUndefined();
    const claims = claimsOf(response.body.access_token);
    expect(claims).toMatchObject({ sub: agent.id, client_id: agent.id, scope: 'profile:read orders:read audit:read', iss: hub.config.issuer, aud: hub.config.audience });
    expect(JSON.parse(Buffer.from(response.body.access_token.split('.')[0], 'base64url').toString())).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
  });

  it('issues with client_secret_post, narrowed to the scope asked, single-field scopes included', async () => {
    const response = await token({ client_id: agent.clientId, client_secret: agent.clientSecret, scope: 'orders:read profile.country:read' });
    expect(response.status).toBe(200);
    expect(response.body.scope).toBe('orders:read profile.country:read');
  });

  it('gives a token the hub accepts: the agent reads the audit trail its ceiling allows', async () => {
    const access = (await token({ scope: 'audit:read' }, basic(agent))).body.access_token;
    const response = await graphql(hub, '{ auditEvents(first: 1) { edges { node { action } } } }', { token: access });
    expect(response.errors).toBeUndefined();
  });

  it('refuses a scope beyond the ceiling with invalid_scope', async () => {
    for (const scope of ['contact:read', 'profile:read users:admin', 'offline_access', 'nonsense']) {
      const response = await token({ scope }, basic(agent));
      expect(response).toMatchObject({ status: 400, body: { error: 'invalid_scope', error_description: expect.any(String) } });
    }
  });

  it('never puts offline_access in an access token, though the ceiling holds it: left out by default, refused when asked', async () => {
    const offline = await registerAgent(hub, admin, { name: 'Offline assistant', allowedScopes: ['orders:read', 'offline_access'] });
    const issued = await token({}, basic(offline));
    expect(issued.body.scope).toBe('orders:read');
    expect(claimsOf(issued.body.access_token).scope).toBe('orders:read');
    expect(await token({ scope: 'orders:read offline_access' }, basic(offline))).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it.each([
    ['a wrong secret', () => basic({ ...agent, clientSecret: `${agent.clientSecret}x` })],
    ['an unknown client', () => basic({ clientId: 'agt_01J00000000000000000NOBODY', clientSecret: agent.clientSecret })],
    ['a Bearer header', () => ({ authorization: 'Bearer abc' })],
    ['Basic without a colon', () => ({ authorization: `Basic ${Buffer.from('just-an-id').toString('base64')}` })],
  ])('refuses %s with 401 invalid_client and WWW-Authenticate: Basic', async (_, headers) => {
    const response = await token({}, headers());
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(response.headers['www-authenticate']).toMatch(/^Basic realm="hub"/);
  });

  it('refuses a wrong secret posted in the body with 401 invalid_client too', async () => {
    const response = await token({ client_id: agent.clientId, client_secret: 'wrong' });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Basic/);
  });

  it('refuses two authentication methods at once, and no authentication at all', async () => {
    expect(await token({ client_secret: agent.clientSecret }, basic(agent))).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await token({ client_id: 'agt_01J0000000000000000000OTHER' }, basic(agent))).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await token({})).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await token({ client_id: agent.clientId })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('refuses grant_type=password with unsupported_grant_type', async () => {
    const response = await postForm(hub, '/oauth/token', { grant_type: 'password', username: 'a', password: 'b' }, basic(agent));
    expect(response).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
  });

  it('refuses an audience other than the hub with invalid_target', async () => {
    expect(await token({ audience: 'https://elsewhere.example' }, basic(agent))).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    expect((await token({ resource: hub.config.audience }, basic(agent))).status).toBe(200);
  });

  it('accepts audience and resource repeated (RFC 8693, RFC 8707) when every value names the hub, and refuses one naming elsewhere among them', async () => {
    const hubApi = hub.config.audience;
    for (const name of ['audience', 'resource']) {
      expect((await token({ [name]: [hubApi, hubApi] }, basic(agent))).status, name).toBe(200);
      // An empty value is a parameter left out (RFC 6749 §3.1).
      expect((await token({ [name]: ['', hubApi] }, basic(agent))).status, name).toBe(200);
      expect((await token({ [name]: ['', ''] }, basic(agent))).status, name).toBe(200);
      const mixed = await token({ [name]: [hubApi, 'https://elsewhere.example/api'] }, basic(agent));
      expect(mixed, name).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    }
    // Every other parameter still appears once (RFC 6749 §3.1).
    expect(await token({ scope: ['orders:read', 'orders:read'] }, basic(agent))).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'parameter scope must appear once' } });
  });

  it('audits each issuance and each refusal with its reason', async () => {
    await token({ scope: 'orders:read' }, basic(agent));
    await token({ scope: 'contact:read' }, basic(agent));
    await token({}, basic({ ...agent, clientSecret: 'wrong' }));
    await hub.services.audit.flush();
    const events = await hub.database.db
      .selectFrom('audit_events')
      .select(['action', 'decision', 'reason', 'actor_id', 'client_id', 'detail'])
      .where('client_id', '=', agent.id)
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .limit(3)
      .execute();
    expect(events.map((e) => [e.action, e.decision, e.reason])).toEqual([
      ['token.refused', 'deny', 'invalid_client: wrong secret'],
      ['token.refused', 'deny', 'invalid_scope: contact:read is beyond the client\'s allowed scopes'],
      ['token.issued', 'allow', null],
    ]);
    expect(events[2]!.detail).toMatchObject({ grantType: 'client_credentials', scope: 'orders:read', jti: expect.any(String) });
    expect(JSON.stringify(events)).not.toContain(agent.clientSecret);
  });

  it('records when the agent was last used', async () => {
    const response = await graphql<any>(hub, 'query($id: ID!) { agent(id: $id) { lastUsedAt } }', { token: admin, variables: { id: agent.id } });
    expect(Date.parse(response.data.agent.lastUsedAt)).toBeGreaterThan(Date.now() - 120_000);
  });
});

describe('secrets with reserved characters', () => {
  it('form-urlencodes id and secret in Basic credentials, as RFC 6749 §2.3.1 asks, and takes them posted too', async () => {
    const clientId = 'agt_ops-console_1';
    const clientSecret = 'se:cr%et+with spaces/and=signs&more-than-32-characters';
    const special = await startTestHub({ HUB_BOOTSTRAP_CLIENT_ID: clientId, HUB_BOOTSTRAP_CLIENT_SECRET: clientSecret });
    onTestFinished(() => special.close());
    const grant = { grant_type: 'client_credentials' };
    expect((await postForm(special, '/oauth/token', grant, basic({ clientId, clientSecret }))).status).toBe(200);
    expect((await postForm(special, '/oauth/token', { ...grant, client_id: clientId, client_secret: clientSecret })).status).toBe(200);
    const unencoded = { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` };
    expect((await postForm(special, '/oauth/token', grant, unencoded)).status).toBe(401);
  });
});

describe('throttling per client', () => {
  it('answers 429 with Retry-After past the rate, and other clients are not held back', async () => {
    const slow = await startTestHub({ HUB_TOKEN_RATE_LIMIT: '3' });
    onTestFinished(() => slow.close());
    const operator = slow.bootstrapCredentials!;
    // Sent at once, so all six fall in one second however slowly each is answered.
    const responses = await Promise.all(Array.from({ length: 6 }, () => postForm(slow, '/oauth/token', { grant_type: 'client_credentials' }, basic(operator))));
    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 429, 429, 429]);
    const limited = responses.find((response) => response.status === 429);
    expect(limited!.body).toEqual({ error: 'slow_down', error_description: expect.stringMatching(/^too many requests/) });
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const other = await postForm(slow, '/oauth/token', { grant_type: 'client_credentials' }, basic({ clientId: 'agt_someone_else', clientSecret: 'x' }));
    expect(other.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await postForm(slow, '/oauth/token', { grant_type: 'client_credentials' }, basic(operator))).status).toBe(200);
  });
});

describe('request format', () => {
  it.each([
    ['a grant type', 'grant_type=%22%5C%C3%A9%0A%00'],
    ['a scope', 'grant_type=client_credentials&scope=orders:read%09%22%5C'],
    ['a repeated parameter’s name', 'grant_type=client_credentials&%22%5C%C3%A9=1&%22%5C%C3%A9=2'],
  ])('quotes %s only in the characters RFC 6749 §5.2 allows an error_description', async (_, payload) => {
    const response = await hub.http.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(agent) }, payload });
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/);
  });

  it('takes form posts only: a JSON body is invalid_request', async () => {
    const response = await hub.http.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/json', ...basic(agent) },
      payload: JSON.stringify({ grant_type: 'client_credentials' }),
    });
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' });
  });

  it.each([
    ['a form over 16 KiB', 413, 'application/x-www-form-urlencoded', `grant_type=client_credentials&padding=${'x'.repeat(16 * 1024)}`],
    ['a media type the hub cannot parse', 415, 'application/xml', '<grant_type>client_credentials</grant_type>'],
    ['malformed JSON', 400, 'application/json', '{"grant_type":'],
  ])('answers %s, refused before any endpoint sees it, as an OAuth error: %i invalid_request, not cached', async (_, status, contentType, payload) => {
    for (const url of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) {
      const response = await hub.http.inject({ method: 'POST', url, headers: { 'content-type': contentType, ...basic(agent) }, payload });
      expect(response.statusCode).toBe(status);
      expect(JSON.parse(response.body)).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers.pragma).toBe('no-cache');
    }
  });
});
