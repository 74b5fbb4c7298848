import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { claimsOf, exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

// One refused bearer request a second per address, with bursts of one: the second refusal in a
// row is already over the allowance.
let hub: Hub;
let admin: string;
beforeAll(async () => {
  hub = await startTestHub({ HUB_GRAPHQL_RATE_LIMIT: '1' });
  admin = await operatorToken(hub);
});
afterAll(() => hub.close());

const FORGED = 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1c3JfMDEifQ.c2lnbmF0dXJl';
const ME = '{ me { id } }';

/** POSTs `query` to /graphql from `address` with the Authorization header given. */
async function graphqlFrom(address: string, authorization: string | undefined, query = ME) {
  const response = await hub.http.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress: address,
    headers: { 'content-type': 'application/json', ...(authorization && { authorization }) },
    payload: { query },
  });
  return { status: response.statusCode, headers: response.headers, body: response.json() };
}

describe('refused bearer requests, per address', () => {
  it('answers 429 with Retry-After and RATE_LIMITED on /graphql past the allowance of an address', async () => {
    const first = await graphqlFrom('192.0.2.10', `Bearer ${FORGED}`);
    expect(first.status).toBe(401);
    const limited = await graphqlFrom('192.0.2.10', `Bearer ${FORGED}`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number.isInteger(Number(limited.headers['retry-after']))).toBe(true);
    expect(limited.headers['www-authenticate']).toBeUndefined();
    expect(limited.body.data).toBeUndefined();
    expect(limited.body.errors).toEqual([
      { message: expect.any(String), extensions: { code: 'RATE_LIMITED', retryAfter: Number(limited.headers['retry-after']) } },
    ]);
  });

  it('answers the exports in their own error shape, and counts another scheme or a malformed header as a refusal', async () => {
    const user = await signUpUser(hub);
    const basic = await hub.http.inject({ method: 'GET', url: `/users/${user.id}/export`, remoteAddress: '192.0.2.11', headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.statusCode).toBe(401);
    for (const url of [`/users/${user.id}/export`, '/audiences/aud_01JD3V4X5Y6Z7A8B9C0D1E2F3G/export']) {
      const limited = await hub.http.inject({ method: 'GET', url, remoteAddress: '192.0.2.11', headers: { authorization: `Bearer ${FORGED}` } });
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(limited.json()).toEqual({ error: 'too_many_requests', error_description: expect.any(String) });
    }
    expect((await graphqlFrom('192.0.2.12', 'Bearer not a token')).status).toBe(401);
    expect((await graphqlFrom('192.0.2.12', `Bearer ${FORGED}`)).status).toBe(429);
  });

  it('leaves other addresses alone, and an IPv6 address counts as its /64', async () => {
    expect((await graphqlFrom('2001:db8:7:1::1', `Bearer ${FORGED}`)).status).toBe(401);
    expect((await graphqlFrom('2001:db8:7:1::2', `Bearer ${FORGED}`)).status).toBe(429);
    expect((await graphqlFrom('2001:db8:7:2::1', `Bearer ${FORGED}`)).status).toBe(401);
    expect((await graphqlFrom('192.0.2.13', `Bearer ${FORGED}`)).status).toBe(401);
  });

  it('serves a valid token from another address, and refuses every token from the address over its allowance', async () => {
    const user = await signUpUser(hub);
    expect((await graphqlFrom('192.0.2.14', `Bearer ${FORGED}`)).status).toBe(401);
    expect((await graphqlFrom('192.0.2.14', `Bearer ${FORGED}`)).status).toBe(429);
    const elsewhere = await graphqlFrom('192.0.2.15', `Bearer ${user.accessToken}`);
    expect([elsewhere.status, elsewhere.body.data?.me?.id]).toEqual([200, user.id]);
    expect((await graphqlFrom('192.0.2.14', `Bearer ${user.accessToken}`)).status).toBe(429);
    // A request with no Authorization header is not the bearer check's to refuse.
    expect((await graphqlFrom('192.0.2.14', undefined, '{ __typename }')).status).toBe(200);
  });

  it('spends the allowance only on refusals: accepted tokens take nothing from it', async () => {
    const user = await signUpUser(hub);
    for (let i = 0; i < 3; i++) expect((await graphqlFrom('192.0.2.16', `Bearer ${user.accessToken}`)).status).toBe(200);
    expect((await graphqlFrom('192.0.2.16', `Bearer ${FORGED}`)).status).toBe(401);
  });

  it('spends nothing of the allowance on a request answered before its token’s state was checked', async () => {
    const user = await signUpUser(hub);
    for (let i = 0; i < 3; i++) {
      const unparsed = await hub.http.inject({
        method: 'POST',
        url: '/graphql',
        remoteAddress: '192.0.2.20',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
        payload: '{ not json',
      });
      expect(unparsed.statusCode).toBe(400);
    }
    expect((await graphqlFrom('192.0.2.20', `Bearer ${FORGED}`)).status).toBe(401);
  });

  it('spends nothing of the allowance on a token it could not check: a database out of reach refuses no token', async () => {
    const user = await signUpUser(hub);
    const { tokens } = hub.services;
    const original = tokens.authenticateInSteps.bind(tokens);
    tokens.authenticateInSteps = async (token) => {
      const step = await original(token);
      return { ...step, check: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })) };
    };
    try {
      for (let i = 0; i < 3; i++) expect((await graphqlFrom('192.0.2.21', `Bearer ${user.accessToken}`)).status).toBe(503);
    } finally {
      tokens.authenticateInSteps = original;
    }
    expect((await graphqlFrom('192.0.2.21', `Bearer ${user.accessToken}`)).status).toBe(200);
  });

  it('counts a refusal before its token is checked, so concurrent forged tokens are refused as one', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => graphqlFrom('192.0.2.17', `Bearer ${FORGED}`)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([401, ...Array(9).fill(429)]);
  });

  it('audits no refused token presented past the allowance: it is not even checked', async () => {
    const user = await signUpUser(hub);
    const agent = await registerAgent(hub, admin, { name: 'Persistent assistant', allowedScopes: ['orders:read'] });
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read'] });
    const handed = (await signIn(hub, user)).accessToken;
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) {
      const exchanged = await exchange(hub, agent, handed, { scope: 'orders:read' });
      expect(exchanged.status).toBe(200);
      tokens.push(exchanged.body.access_token as string);
    }
    const withdrawn = await hub.http.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
      payload: { query: 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', variables: { id: consentId } },
    });
    expect(withdrawn.json().errors).toBeUndefined();

    const statuses = [];
    for (const token of tokens.slice(0, 3)) statuses.push((await graphqlFrom('192.0.2.18', `Bearer ${token}`)).status);
    expect(statuses).toEqual([401, 429, 429]);
    expect((await graphqlFrom('192.0.2.19', `Bearer ${tokens[3]}`)).status).toBe(401);

    await hub.services.audit.flush();
    const refused = await hub.services.db
      .selectFrom('audit_events')
      .select(['action', 'reason', 'detail'])
      .where('subject_user_id', '=', user.id)
      .where('action', '=', 'token.refused')
      .execute();
    expect(refused.map((event) => (event.detail as { jti: string }).jti).sort()).toEqual([tokens[0]!, tokens[3]!].map((token) => claimsOf(token).jti).sort());
  });
});
