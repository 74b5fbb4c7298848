import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';
import { freePort } from '../helpers/net.js';
import { ACCESS_TOKEN_TYPE, giveConsent, operatorToken, registerAgent, TOKEN_EXCHANGE, type RegisteredAgent } from '../helpers/oauth.js';

/**
 * oauth4webapi, a certified OAuth client, used as a real agent would use it, against a hub
 * listening on loopback: every answer passes the library's own checks, RFC 9068 included.
 */
const insecure = { [oauth.allowInsecureRequests]: true };

let hub: Hub;
let issuer: URL;
let as: oauth.AuthorizationServer;
let agent: RegisteredAgent;
let client: oauth.Client;
let user: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  const port = await freePort();
  hub = await createHub(loadConfig({ ...TEST_ENV, HUB_ISSUER: `http://127.0.0.1:${port}` }), { database: await createTestDatabase() });
  await hub.http.listen({ host: '127.0.0.1', port });
  issuer = new URL(hub.config.issuer);
  const admin = await operatorToken(hub);
  agent = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read', 'offline_access'] });
  client = { client_id: agent.clientId };
  user = await signUpUser(hub);
  await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read', 'contact.email:read'] });
});
afterAll(() => hub.close());

/** The hub's RFC 9068 tokens, validated by the library against /jwks.json, as a resource server would. */
const validate = (token: string) =>
  oauth.validateJwtAccessToken(as, new Request(`${issuer}graphql`, { headers: { authorization: `Bearer ${token}` } }), hub.config.audience, insecure);

describe('oauth4webapi against the hub', () => {
  it('discovers the hub (RFC 8414)', async () => {
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    expect(as).toMatchObject({
      issuer: hub.config.issuer,
      token_endpoint: `${hub.config.issuer}/oauth/token`,
      jwks_uri: `${hub.config.issuer}/jwks.json`,
      introspection_endpoint: `${hub.config.issuer}/oauth/introspect`,
      revocation_endpoint: `${hub.config.issuer}/oauth/revoke`,
      grant_types_supported: expect.arrayContaining(['client_credentials', TOKEN_EXCHANGE, 'refresh_token']),
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      scopes_supported: expect.arrayContaining(['orders:read', 'agents:admin', 'offline_access']),
    });
    const resource = await (await fetch(`${issuer}.well-known/oauth-protected-resource`)).json();
    expect(resource).toMatchObject({ resource: hub.config.audience, authorization_servers: [hub.config.issuer], bearer_methods_supported: ['header'] });
  });

  it('gets a client-credentials token with client_secret_basic and with client_secret_post, and validates it', async () => {
    for (const auth of [oauth.ClientSecretBasic(agent.clientSecret), oauth.ClientSecretPost(agent.clientSecret)]) {
      const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'orders:read' }, insecure);
      const tokens = await oauth.processClientCredentialsResponse(as, client, response);
      expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'orders:read', expires_in: 600 });
      expect(await validate(tokens.access_token)).toMatchObject({ sub: agent.id, client_id: agent.id, iss: hub.config.issuer, aud: hub.config.audience });
    }
  });

  it('sees the library read a wrong secret as a Basic challenge over an invalid_client body', async () => {
    const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('wrong'), {}, insecure);
    const error = (await oauth.processClientCredentialsResponse(as, client, response).catch((e: unknown) => e)) as oauth.WWWAuthenticateChallengeError;
    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect(error.status).toBe(401);
    expect(error.cause[0]).toMatchObject({ scheme: 'basic', parameters: { realm: 'hub' } });
    expect(await error.response.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  });

  it('sees the library read any other refusal as an OAuth error with its RFC code', async () => {
    const response = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(agent.clientSecret), TOKEN_EXCHANGE, { subject_token: user.accessToken }, insecure);
    const error = await oauth.processGenericTokenEndpointResponse(as, client, response).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oauth.ResponseBodyError);
    expect((error as oauth.ResponseBodyError).error).toBe('invalid_request');
  });

  let delegated: oauth.TokenEndpointResponse;
  it('exchanges the user’s token for a delegated one, and validates it with its act and consent claims', async () => {
    const response = await oauth.genericTokenEndpointRequest(
      as,
      client,
      oauth.ClientSecretBasic(agent.clientSecret),
      TOKEN_EXCHANGE,
      { subject_token: user.accessToken, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'orders:read contact.email:read offline_access' },
      insecure,
    );
    delegated = await oauth.processGenericTokenEndpointResponse(as, client, response);
    expect(delegated).toMatchObject({ token_type: 'bearer', issued_token_type: ACCESS_TOKEN_TYPE, refresh_token: expect.any(String) });
    const claims = await validate(delegated.access_token);
    expect(claims).toMatchObject({ sub: user.id, client_id: agent.id, act: { sub: agent.id }, purpose: 'support', scope: 'orders:read contact.email:read' });

    const me = await oauth.protectedResourceRequest(delegated.access_token, 'POST', new URL(`${issuer}graphql`), new Headers({ 'content-type': 'application/json' }), '{"query":"{ me { email } }"}', insecure);
    expect(await me.json()).toEqual({ data: { me: { email: user.email } } });
  });

  it('refreshes the delegated access, and introspects what it holds', async () => {
    const response = await oauth.refreshTokenGrantRequest(as, client, oauth.ClientSecretBasic(agent.clientSecret), delegated.refresh_token!, insecure);
    const refreshed = await oauth.processRefreshTokenResponse(as, client, response);
    expect(refreshed.refresh_token).not.toBe(delegated.refresh_token);
    expect(await validate(refreshed.access_token)).toMatchObject({ sub: user.id, act: { sub: agent.id } });

    const introspected = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(agent.clientSecret), refreshed.access_token, insecure),
    );
    expect(introspected).toMatchObject({ active: true, client_id: agent.id, sub: user.id, act: { sub: agent.id }, token_type: 'Bearer' });
    delegated = refreshed;
  });

  it('revokes, after which introspection says inactive and the resource refuses the token', async () => {
    const auth = oauth.ClientSecretPost(agent.clientSecret);
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, delegated.access_token, insecure));
    const introspected = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, delegated.access_token, insecure));
    expect(introspected).toEqual({ active: false });
    const me = await fetch(`${issuer}graphql`, { method: 'POST', headers: { authorization: `Bearer ${delegated.access_token}`, 'content-type': 'application/json' }, body: '{"query":"{ me { id } }"}' });
    expect(me.status).toBe(401);
    expect(me.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="token revoked"');
  });
});
