import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { RefusedTokenRecorder } from '../../src/audit/refused-token-recorder.js';
import type { AuditEventInput } from '../../src/audit/audit.service.js';
import { principalFromToken, type TokenClaims } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import type { VerifiedAccessToken } from '../../src/oauth/access-token.js';
import { RefusedTokenError, type LiveToken } from '../../src/oauth/token.service.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { basic, claimsOf, exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

const clock = fixedClock('2031-05-04T10:00:00Z');
let hub: Hub;
let admin: string;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
});
afterAll(() => hub.close());

/**
 * A user, an agent with the user's consent, and a delegated token the agent got by token exchange
 * of `handed`, a second session of the user's handed to it.
 */
async function delegation() {
  const user = await signUpUser(hub);
  const agent = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read'] });
  const consentId = await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
  const handed = (await signIn(hub, user)).accessToken;
  const exchanged = await exchange(hub, agent, handed, { scope: 'orders:read' });
  if (exchanged.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(exchanged.body)}`);
  return { user, agent, consentId, handed, token: exchanged.body.access_token as string };
}

const ORDERS = '{ me { orders { edges { node { id } } } } }';

/** Presents the token twice, each time under a request id of its own; both must be refused. */
async function presentTwice(token: string, requestId: string) {
  for (const id of [requestId, `${requestId}-replay`]) {
    const response = await graphql(hub, ORDERS, { token, headers: { 'x-request-id': id } });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(response.data).toBeUndefined();
  }
}

/** Every DENY event in the user's trail, once the buffered writer has written what it holds. */
async function deniedInTrailOf(userId: string) {
  await hub.services.audit.flush();
  return hub.services.db
    .selectFrom('audit_events')
    .select(['action', 'actor_kind', 'actor_id', 'actor_chain', 'client_id', 'purpose', 'consent_id', 'decision', 'reason', 'request_id', 'detail'])
    .where('subject_user_id', '=', userId)
    .where('decision', '=', 'deny')
    .execute();
}

const mutate = (name: string, id: string, token: string) => graphql(hub, `mutation($id: ID!) { ${name}(id: $id) { id } }`, { token, variables: { id } });

describe('a delegated token refused by the bearer check', () => {
  it('is audited once in its user’s trail as CONSENT_WITHDRAWN, naming the agent and the consent', async () => {
    const { user, agent, consentId, token } = await delegation();
    expect((await graphql(hub, ORDERS, { token })).status).toBe(200);
    expect((await mutate('withdrawConsent', consentId, user.accessToken)).errors).toBeUndefined();

    await presentTwice(token, 'req-withdrawn');
    expect(await deniedInTrailOf(user.id)).toEqual([
      {
        action: 'token.refused',
        actor_kind: 'delegated',
        actor_id: agent.id,
        actor_chain: [agent.id],
        client_id: agent.id,
        purpose: 'support',
        consent_id: consentId,
        decision: 'deny',
        reason: 'CONSENT_WITHDRAWN',
        request_id: 'req-withdrawn',
        detail: { endpoint: 'graphql', jti: claimsOf(token).jti },
      },
    ]);

    const log = await graphql<any>(hub, '{ me { accessLog(first: 20) { edges { node { action decision reason clientId consentId actorChain } } } } }', { token: user.accessToken });
    expect(log.data.me.accessLog.edges.map((edge: any) => edge.node).filter((event: any) => event.decision === 'DENY')).toEqual([
      { action: 'token.refused', decision: 'DENY', reason: 'CONSENT_WITHDRAWN', clientId: agent.id, consentId, actorChain: [agent.id] },
    ]);
  });

  it.each(['suspendAgent', 'decommissionAgent'])('is audited once as AGENT_INACTIVE after %s', async (mutation) => {
    const { user, agent, consentId, token } = await delegation();
    expect((await mutate(mutation, agent.id, admin)).errors).toBeUndefined();

    await presentTwice(token, `req-${mutation}`);
    expect(await deniedInTrailOf(user.id)).toEqual([
      expect.objectContaining({ action: 'token.refused', actor_id: agent.id, actor_chain: [agent.id], client_id: agent.id, consent_id: consentId, reason: 'AGENT_INACTIVE', request_id: `req-${mutation}` }),
    ]);
  });

  it('is audited once, with the error the caller was given, once revoked at /oauth/revoke', async () => {
    const { user, agent, consentId, token } = await delegation();
    expect((await postForm(hub, '/oauth/revoke', { token }, basic(agent))).status).toBe(200);

    await presentTwice(token, 'req-revoked');
    expect(await deniedInTrailOf(user.id)).toEqual([expect.objectContaining({ action: 'token.refused', client_id: agent.id, consent_id: consentId, reason: 'invalid_token: token revoked' })]);
  });

  it('is not audited when its signature or expiry fails: such a token names no one the hub can trust', async () => {
    const { user, consentId, token } = await delegation();
    await mutate('withdrawConsent', consentId, user.accessToken);
    const [header, payload, signature] = token.split('.');
    const tampered = `${header}.${payload}.${signature!.startsWith('A') ? 'B' : 'A'}${signature!.slice(1)}`;
    expect((await graphql(hub, ORDERS, { token: tampered })).status).toBe(401);
    clock.advance(hub.config.accessTokenTtl + 1);
    try {
      expect((await graphql(hub, ORDERS, { token })).status).toBe(401);
    } finally {
      clock.advance(-(hub.config.accessTokenTtl + 1));
    }
    expect(await deniedInTrailOf(user.id)).toEqual([]);
  });

  it('is audited separately for each token, but once per token, however often each is replayed', async () => {
    const { user, agent, consentId, handed, token } = await delegation();
    const second = (await exchange(hub, agent, handed, { scope: 'orders:read' })).body.access_token as string;
    await mutate('withdrawConsent', consentId, user.accessToken);
    for (let round = 0; round < 3; round++) {
      for (const presented of [token, second]) expect((await graphql(hub, ORDERS, { token: presented })).status).toBe(401);
    }
    const events = await deniedInTrailOf(user.id);
    expect(events.map((event) => event.detail.jti).sort()).toEqual([claimsOf(token).jti, claimsOf(second).jti].sort());
  });
});

describe('RefusedTokenRecorder', () => {
  const claims = (jti: string): VerifiedAccessToken => ({
    sub: 'usr_01J00000000000000000000001',
    client_id: 'agt_01J00000000000000000000001',
    scope: 'orders:read',
    act: { sub: 'agt_01J00000000000000000000001' },
    consent_id: 'cns_01J00000000000000000000001',
    purpose: 'support',
    jti,
    iat: Math.floor(clock.now().getTime() / 1_000),
    exp: Math.floor(clock.now().getTime() / 1_000) + 600,
  });
  const refused = (jti: string) => new RefusedTokenError('consent not in force', 'CONSENT_WITHDRAWN', { claims: claims(jti), principal: principalFromToken(claims(jti) as TokenClaims) as LiveToken['principal'] });
  const silent = { info: () => {}, warn: () => {}, error: () => {} };

  it('audits no more tokens at once than it can remember, rather than forget one still live', () => {
    const recorded: AuditEventInput[] = [];
    const recorder = new RefusedTokenRecorder({ record: (event) => void recorded.push(event) }, { clock, logger: silent, maxTokens: 2 });
    for (const jti of ['a', 'b', 'c', 'a', 'b', 'c']) recorder.record(refused(jti), { requestId: `req-${jti}`, endpoint: 'graphql' });
    expect(recorded.map((event) => event.detail?.jti)).toEqual(['a', 'b']);
  });

  it('audits nothing of a token refused because its user is no longer active', () => {
    const recorded: AuditEventInput[] = [];
    const recorder = new RefusedTokenRecorder({ record: (event) => void recorded.push(event) }, { clock, logger: silent });
    const error = refused('d');
    recorder.record(new RefusedTokenError('user not active', 'USER_INACTIVE', error.token), { requestId: 'req-d', endpoint: 'graphql' });
    expect(recorded).toEqual([]);
  });
});
