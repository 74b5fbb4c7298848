import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, claimsOf, clientCredentialsToken, exchange, giveConsent, operatorToken, registerAgent, type ClientCredentials, type RegisteredAgent } from '../helpers/oauth.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Two hub instances on one PostgreSQL database, as behind a load balancer: a token whose agent was
 * suspended or decommissioned, whose consent was withdrawn or which was revoked through one is
 * refused by the other on the very next request (tokens are checked against the database on every
 * request). The token endpoint's client cache on the other instance is cleared by NOTIFY, so
 * there the refusal follows within the notification's delivery. PGlite is one process's
 * database, so this runs on the server only.
 */
describe.skipIf(testServerUrl() === undefined)('two instances sharing a database', () => {
  let one: Hub;
  let two: Hub;
  let admin: string;
  let agent: RegisteredAgent;
  let user: Awaited<ReturnType<typeof signUpUser>>;
  beforeAll(async () => {
    const database = await createTestDatabase();
    one = await createHub(loadConfig(TEST_ENV), { database });
    two = await createHub(loadConfig(TEST_ENV), { database: openDatabase({ url: database.url! }) });
    admin = await operatorToken(one);
    agent = await registerAgent(one, admin, { allowedScopes: ['orders:read', 'offline_access'] });
    user = await signUpUser(one);
  });
  afterAll(async () => {
    await two.close();
    await one.close();
  });

  const me = (hub: Hub, token: string) => graphql(hub, '{ me { id } }', { token });
  const toggle = (hub: Hub, mutation: string, id: string) => graphql(hub, `mutation($id: ID!) { ${mutation}(id: $id) { id } }`, { token: admin, variables: { id } });

  it('share keys and state: a token issued by one is accepted by the other', async () => {
    expect(two.bootstrapCredentials).toBeUndefined();
    const consentId = await giveConsent(one, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    expect(consentId).toMatch(/^cns_/);
    const delegated = (await exchange(one, agent, user.accessToken)).body.access_token;
    expect((await me(two, delegated)).status).toBe(200);
  });

  it('refuse on the other instance, at once, an agent suspended through one; and accept it again after reactivation', async () => {
    const delegated = (await exchange(one, agent, user.accessToken)).body.access_token;
    const own = await clientCredentialsToken(two, agent);
    expect((await me(two, delegated)).status).toBe(200);
    await toggle(one, 'suspendAgent', agent.id);
    expect((await me(two, delegated)).status).toBe(401);
    expect((await me(two, own)).status).toBe(401);
    expect(await eventually(async () => (await postForm(two, '/oauth/token', { grant_type: 'client_credentials' }, basic(agent))).status, 401)).toBe(401);
    await toggle(two, 'reactivateAgent', agent.id);
    expect((await me(one, delegated)).status).toBe(200);
    expect(await eventually(async () => (await postForm(one, '/oauth/token', { grant_type: 'client_credentials' }, basic(agent))).status, 200)).toBe(200);
  });

  it('refuse on one instance a consent withdrawn through the other, refresh token included', async () => {
    const other = await signUpUser(two);
    const consentId = await giveConsent(two, other.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const handed = (await signIn(two, other)).accessToken;
    const issued = (await exchange(two, agent, handed, { scope: 'orders:read offline_access' })).body;
    expect((await me(one, issued.access_token)).status).toBe(200);
    expect((await me(one, handed)).status).toBe(401);
    await graphql(two, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: other.accessToken, variables: { id: consentId } });
    expect((await me(one, issued.access_token)).status).toBe(401);
    const refreshed = await postForm(one, '/oauth/token', { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, basic(agent));
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('refuse on the other instance a token revoked through one, and an agent decommissioned through it', async () => {
    const own = await clientCredentialsToken(one, agent);
    expect((await postForm(one, '/oauth/revoke', { token: own }, basic(agent))).status).toBe(200);
    expect((await me(two, own)).status).toBe(401);
    const fresh = await clientCredentialsToken(one, agent);
    expect((await me(two, fresh)).status).toBe(200);
    await toggle(two, 'decommissionAgent', agent.id);
    expect((await me(one, fresh)).status).toBe(401);
    expect(await eventually(async () => (await postForm(one, '/oauth/token', { grant_type: 'client_credentials' }, basic(agent))).status, 401)).toBe(401);
  });
});

/**
 * Two instances whose clocks are 30 s apart, within the skew the hub allows: the instance ahead
 * forgets what refuses a token once the token has expired by its clock, while the one behind still
 * takes the token as unexpired.
 */
describe.skipIf(testServerUrl() === undefined)('two instances sharing a database, clocks 30 s apart', () => {
  const ahead = fixedClock('2030-01-01T00:00:00Z');
  const behind = fixedClock('2030-01-01T00:00:00Z');
  let one: Hub;
  let two: Hub;
  let admin: string;
  let agent: RegisteredAgent;
  beforeAll(async () => {
    const database = await createTestDatabase();
    one = await createHub(loadConfig(TEST_ENV), { database, clock: ahead });
    two = await createHub(loadConfig(TEST_ENV), { database: openDatabase({ url: database.url! }), clock: behind });
    admin = await operatorToken(one);
    agent = await registerAgent(one, admin, { allowedScopes: ['orders:read'] });
  });
  afterAll(async () => {
    await two.close();
    await one.close();
  });

  const me = (hub: Hub, token: string) => graphql(hub, '{ me { id } }', { token });
  /** Sets the clocks around `exp`: the one ahead a second past it, the one behind 29 s before it. */
  const around = (exp: number) => {
    ahead.set(new Date(exp * 1_000 + 1_000));
    behind.set(new Date(exp * 1_000 - 29_000));
  };
  const restart = () => {
    ahead.set(new Date(Math.max(ahead.now().getTime(), behind.now().getTime()) + 3_600_000));
    behind.set(ahead.now());
  };

  it('keep a revoked token refused on the instance behind after the one ahead forgets revocations of expired tokens', async () => {
    const user = await signUpUser(one);
    expect((await postForm(one, '/oauth/revoke', { token: user.accessToken, client_id: 'hub-frontend' })).status).toBe(200);
    expect((await me(two, user.accessToken)).status).toBe(401);
    around(claimsOf(user.accessToken).exp);
    // Each revocation forgets a few of those of expired tokens.
    const other = await signUpUser(one);
    expect((await postForm(one, '/oauth/revoke', { token: other.accessToken, client_id: 'hub-frontend' })).status).toBe(200);
    expect((await me(two, user.accessToken)).status).toBe(401);
    restart();
  });

  it('keep a token handed to an agent refused as a bearer token on the instance behind after the one ahead forgets those expired', async () => {
    const user = await signUpUser(one);
    await giveConsent(one, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    expect((await exchange(one, agent, user.accessToken)).status).toBe(200);
    expect((await me(two, user.accessToken)).status).toBe(401);
    around(claimsOf(user.accessToken).exp);
    // Each exchange forgets a few of the tokens exchanged that have expired.
    const other = await signUpUser(one);
    await giveConsent(one, other.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    expect((await exchange(one, agent, other.accessToken)).status).toBe(200);
    expect((await me(two, user.accessToken)).status).toBe(401);
    restart();
  });
});

/**
 * The same, with the second instance reaching the database through a proxy that can silence or
 * slow down its LISTEN connection (the client cache's only news of changes made elsewhere), while
 * its pooled connections pass untouched.
 */
describe.skipIf(testServerUrl() === undefined)('two instances sharing a database, one LISTENing over a bad link', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let one: Hub;
  let two: Hub;
  let admin: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    let viaProxy: string;
    ({ proxy, url: viaProxy } = await proxyDatabase(database.url!));
    one = await createHub(loadConfig(TEST_ENV), { database });
    // No webhook worker: the second instance's one LISTEN connection carries its caches' channels.
    two = await createHub(loadConfig({ ...TEST_ENV, HUB_WEBHOOK_WORKER: 'false' }), { database: openDatabase({ url: viaProxy }) });
    admin = await operatorToken(one);
  });
  afterAll(async () => {
    await two.close();
    await one.close();
    await proxy.close();
  });

  const clientCredentials = (hub: Hub, client: ClientCredentials) => postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic(client));

  /** An agent whose client record the second instance holds in its cache, LISTENing again first. */
  async function agentCachedOnTwo(): Promise<RegisteredAgent> {
    await expect.poll(() => proxy.listening(), { timeout: 15_000 }).toBe(1);
    const agent = await registerAgent(one, admin, { allowedScopes: ['orders:read'] });
    expect((await clientCredentials(two, agent)).status).toBe(200);
    return agent;
  }

  it('refuse within seconds, at the token endpoint of an instance whose LISTEN connection silently died, an agent suspended through the other', async () => {
    const agent = await agentCachedOnTwo();
    proxy.setListenerTraffic('drop');
    try {
      const suspended = await graphql(one, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agent.id } });
      expect(suspended.data).toEqual({ suspendAgent: { status: 'SUSPENDED' } });
      expect((await clientCredentials(one, agent)).status).toBe(401);
      // The LISTEN heartbeat notices the silence within seconds; the cache's own backstop is a minute.
      await expect.poll(async () => (await clientCredentials(two, agent)).status, { timeout: 8_000, interval: 100 }).toBe(401);
    } finally {
      proxy.setListenerTraffic('pass');
    }
  });

  it('refuse a rotated-out client secret on the other instance once the notification arrives: its delay is the whole window', async () => {
    const agent = await agentCachedOnTwo();
    proxy.setListenerTraffic({ delayMs: 500 });
    try {
      const rotated = await graphql<{ rotateAgentSecret: { clientSecret: string } }>(
        one,
        'mutation($id: ID!) { rotateAgentSecret(id: $id, gracePeriodSeconds: 0) { clientSecret } }',
        { token: admin, variables: { id: agent.id } },
      );
      const clientSecret = rotated.data!.rotateAgentSecret.clientSecret;
      expect((await clientCredentials(one, agent)).status).toBe(401);
      // Seconds, as a busy machine may take them, and still far short of the cache's one-minute backstop.
      await expect.poll(async () => (await clientCredentials(two, agent)).status, { timeout: 10_000, interval: 50 }).toBe(401);
      expect((await clientCredentials(two, { clientId: agent.clientId, clientSecret })).status).toBe(200);
    } finally {
      proxy.setListenerTraffic('pass');
    }
  });
});

/**
 * Asks until the answer is `expected` or five seconds have passed (a notification's way on a busy
 * machine, far short of the caches' one-minute backstop); resolves to the last answer.
 */
async function eventually<T>(ask: () => Promise<T>, expected: T): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const answer = await ask();
    if (answer === expected || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
