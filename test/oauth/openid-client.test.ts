import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';
import { freePort } from '../helpers/net.js';
import { ACCESS_TOKEN_TYPE, giveConsent, operatorToken, registerAgent, TOKEN_EXCHANGE, type RegisteredAgent } from '../helpers/oauth.js';

/**
 * openid-client (v6), a second independent OAuth client, used as a real agent would use it against
 * a hub listening on loopback: discovery of the RFC 8414 metadata, every grant the hub offers
 * agents, introspection and revocation, once with client_secret_basic and once with
 * client_secret_post. Access tokens are verified against the discovered `jwks_uri`, as a resource
 * server would.
 */
const METHODS = [
  { method: 'client_secret_basic', auth: client.ClientSecretBasic },
  { method: 'client_secret_post', auth: client.ClientSecretPost },
] as const;

interface SentRequest {
  readonly url: string;
  readonly authorization: string | undefined;
  readonly form: URLSearchParams;
}

let hub: Hub;
let issuer: URL;
let agent: RegisteredAgent;
let user: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  const port = await freePort();
  hub = await createHub(loadConfig({ ...TEST_ENV, HUB_ISSUER: `http://127.0.0.1:${port}` }), { database: await createTestDatabase() });
  await hub.http.listen({ host: '127.0.0.1', port });
  issuer = new URL(hub.config.issuer);
  const admin = await operatorToken(hub);
  agent = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  user = await signUpUser(hub);
  await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read', 'contact.email:read'] });
});
afterAll(() => hub.close());

/** Discovers the hub for the agent, recording every request the library sends. */
async function discover(auth: (secret: string) => client.ClientAuth, secret = agent.clientSecret) {
  const sent: SentRequest[] = [];
  const recordingFetch: client.CustomFetch = (url, options) => {
    const headers = new Headers(options.headers);
    sent.push({ url, authorization: headers.get('authorization') ?? undefined, form: new URLSearchParams(options.body instanceof URLSearchParams || typeof options.body === 'string' ? options.body : '') });
    return fetch(url, options as RequestInit);
  };
  const config = await client.discovery(issuer, agent.clientId, undefined, auth(secret), {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests],
    [client.customFetch]: recordingFetch,
  });
  return { config, sent };
}

/** Verifies an access token as RFC 9068 prescribes, with the keys at the discovered jwks_uri. */
async function verifyAccessToken(config: client.Configuration, token: string) {
  const metadata = config.serverMetadata();
  const keys = createRemoteJWKSet(new URL(metadata.jwks_uri!));
  const { payload, protectedHeader } = await jwtVerify(token, keys, { issuer: metadata.issuer, audience: hub.config.audience, typ: 'at+jwt', algorithms: ['ES256'] });
  expect(protectedHeader.kid).toEqual(expect.any(String));
  return payload;
}

describe('openid-client discovers the hub (RFC 8414)', () => {
  it('reads the authorization server metadata with the oauth2 algorithm', async () => {
    const { config, sent } = await discover(client.ClientSecretBasic);
    expect(sent[0]!.url).toBe(`${hub.config.issuer}/.well-known/oauth-authorization-server`);
    expect(config.serverMetadata()).toMatchObject({
      issuer: hub.config.issuer,
      token_endpoint: `${hub.config.issuer}/oauth/token`,
      jwks_uri: `${hub.config.issuer}/jwks.json`,
      introspection_endpoint: `${hub.config.issuer}/oauth/introspect`,
      revocation_endpoint: `${hub.config.issuer}/oauth/revoke`,
      grant_types_supported: expect.arrayContaining(['client_credentials', TOKEN_EXCHANGE, 'refresh_token']),
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    });
  });

  it('reads a wrong secret as a Basic challenge over an invalid_client body, whichever way it was sent', async () => {
    for (const { auth } of METHODS) {
      const error = await client.clientCredentialsGrant((await discover(auth, 'wrong')).config).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(client.WWWAuthenticateChallengeError);
      expect(error).toMatchObject({ status: 401, cause: [{ scheme: 'basic', parameters: { realm: 'hub' } }] });
      expect(await (error as client.WWWAuthenticateChallengeError).response.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    }
  });

  it('reads a token exchange without a subject token type as an RFC 6749 error', async () => {
    const { config } = await discover(client.ClientSecretBasic);
    const error = await client.genericGrantRequest(config, TOKEN_EXCHANGE, { subject_token: user.accessToken }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(client.ResponseBodyError);
    expect(error).toMatchObject({ error: 'invalid_request', status: 400 });
  });
});

describe.each(METHODS)('openid-client with $method', ({ method, auth }) => {
  let config: client.Configuration;
  let sent: SentRequest[];
  beforeAll(async () => ({ config, sent } = await discover(auth)));

  /** The client authentication the library put on the last request: only the one asked for. */
  function expectAuthenticatedBy(request: SentRequest) {
    if (method === 'client_secret_basic') {
      expect(request.authorization).toMatch(/^Basic /);
      expect(request.form.has('client_secret')).toBe(false);
    } else {
      expect(request.authorization).toBeUndefined();
      expect(request.form.get('client_id')).toBe(agent.clientId);
      expect(request.form.get('client_secret')).toBe(agent.clientSecret);
    }
  }

  it('gets a client-credentials token and verifies it against the JWKS', async () => {
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expectAuthenticatedBy(sent.at(-1)!);
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'orders:read', expires_in: 600 });
    expect(tokens.expiresIn()).toBeLessThanOrEqual(600);
    expect(await verifyAccessToken(config, tokens.access_token)).toMatchObject({ sub: agent.id, client_id: agent.id, scope: 'orders:read' });
  });

  let delegated: client.TokenEndpointResponse;
  it('exchanges the user’s token (RFC 8693) for a delegated one with its act and consent claims', async () => {
    delegated = await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
      subject_token: user.accessToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      scope: 'orders:read contact.email:read offline_access',
    });
    expectAuthenticatedBy(sent.at(-1)!);
    expect(delegated).toMatchObject({ token_type: 'bearer', issued_token_type: ACCESS_TOKEN_TYPE, refresh_token: expect.any(String) });
    const claims = await verifyAccessToken(config, delegated.access_token);
    expect(claims).toMatchObject({ sub: user.id, client_id: agent.id, act: { sub: agent.id }, purpose: 'support', scope: 'orders:read contact.email:read', consent_id: expect.stringMatching(/^cns_/) });

    const me = await client.fetchProtectedResource(config, delegated.access_token, new URL(`${issuer}graphql`), 'POST', '{"query":"{ me { email } }"}', new Headers({ 'content-type': 'application/json' }));
    expect(await me.json()).toEqual({ data: { me: { email: user.email } } });
  });

  it('refreshes the delegated access: a new pair, the old refresh token spent', async () => {
    const refreshed = await client.refreshTokenGrant(config, delegated.refresh_token!);
    expectAuthenticatedBy(sent.at(-1)!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(delegated.refresh_token);
    expect(await verifyAccessToken(config, refreshed.access_token)).toMatchObject({ sub: user.id, act: { sub: agent.id } });

    const reused = await client.refreshTokenGrant(config, delegated.refresh_token!).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(client.ResponseBodyError);
    expect(reused).toMatchObject({ error: 'invalid_grant' });
    // Reuse of a spent refresh token (RFC 9700 §4.14.2) revokes its whole family, the new one included.
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    delegated = await client.genericGrantRequest(config, TOKEN_EXCHANGE, { subject_token: user.accessToken, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'orders:read' });
  });

  it('introspects an active token (RFC 7662) with the claims the hub signed', async () => {
    const introspected = await client.tokenIntrospection(config, delegated.access_token);
    expectAuthenticatedBy(sent.at(-1)!);
    expect(sent.at(-1)!.url).toBe(`${hub.config.issuer}/oauth/introspect`);
    expect(introspected).toMatchObject({ active: true, client_id: agent.id, sub: user.id, act: { sub: agent.id }, scope: 'orders:read', token_type: 'Bearer', iss: hub.config.issuer });
  });

  it('revokes (RFC 7009), after which introspection says inactive and the resource refuses the token', async () => {
    await client.tokenRevocation(config, delegated.access_token);
    expectAuthenticatedBy(sent.at(-1)!);
    expect(sent.at(-1)!.url).toBe(`${hub.config.issuer}/oauth/revoke`);
    expect(await client.tokenIntrospection(config, delegated.access_token)).toEqual({ active: false });
    const refused = await client
      .fetchProtectedResource(config, delegated.access_token, new URL(`${issuer}graphql`), 'POST', '{"query":"{ me { id } }"}', new Headers({ 'content-type': 'application/json' }))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    expect(refused).toMatchObject({ status: 401, cause: [{ scheme: 'bearer', parameters: { error: 'invalid_token', error_description: 'token revoked' } }] });
    // Revoking an unknown token answers 200, which the library takes as done.
    await expect(client.tokenRevocation(config, 'not-a-token-the-hub-issued')).resolves.toBeUndefined();
  });
});
