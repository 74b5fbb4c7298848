import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

let hub: Hub;
/** A token an agent got by token exchange to act for a user, made before any test spends an allowance. */
let delegated: string;
beforeAll(async () => {
  hub = await startTestHub({ HUB_GRAPHQL_RATE_LIMIT: '1' });
  const agent = await registerAgent(hub, await operatorToken(hub), { name: 'Roaming assistant', allowedScopes: ['contact:read'] });
  const user = await signUpUser(hub);
  await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['contact:read'] });
  delegated = (await exchange(hub, agent, (await signIn(hub, user)).accessToken, { scope: 'contact:read' })).body.access_token as string;
});
afterAll(() => hub.close());

describe('GraphQL rate limits', () => {
  it('answers 429 with Retry-After and RATE_LIMITED past the limit of a caller', async () => {
    const user = await signUpUser(hub);
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push(await graphql(hub, '{ me { id } }', { token: user.accessToken }));
    expect(answers.slice(0, 59).every((a) => a.status === 200)).toBe(true);
    const limited = answers.at(-1)!;
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
  });

  it('refuses a caller past its limit before its token is checked in the database', async () => {
    const user = await signUpUser(hub);
    const { tokens } = hub.services;
    const original = tokens.authenticateInSteps.bind(tokens);
    let checks = 0;
    tokens.authenticateInSteps = async (token) => {
      const step = await original(token);
      return { ...step, check: () => (checks++, step.check()) };
    };
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 70; i++) statuses.push((await graphql(hub, '{ __typename }', { token: user.accessToken })).status);
      const served = statuses.filter((status) => status === 200).length;
      expect(statuses.filter((status) => status === 429)).toHaveLength(70 - served);
      expect(served).toBeLessThanOrEqual(60);
      // The first request past the limit is checked, counted and refused; the rest are refused as they arrive.
      expect(checks).toBe(served + 1);
    } finally {
      tokens.authenticateInSteps = original;
    }
  });

  it('counts no request whose token is refused: a revoked token replayed cannot spend its user’s allowance', async () => {
    const alice = await signUpUser(hub);
    const stolen = await signIn(hub, alice);
    expect((await postForm(hub, '/oauth/revoke', { client_id: 'hub-frontend', token: stolen.refreshToken })).status).toBe(200);
    const post = (token: string, remoteAddress: string) =>
      hub.http.inject({ method: 'POST', url: '/graphql', remoteAddress, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, payload: { query: '{ __typename }' } });
    // From as many addresses, so the allowance of refused tokens per address never runs out.
    for (let i = 0; i < 61; i++) expect((await post(stolen.accessToken, `198.51.100.${i + 1}`)).statusCode).toBe(401);
    expect((await post(alice.accessToken, '203.0.113.50')).statusCode).toBe(200);
  });

  it('reads the bearer token of a request to a percent-encoded path', async () => {
    const operator = await clientToken(hub, ['users:admin'], 'agt_01J0000000000000000000PCNT');
    const response = await hub.http.inject({ method: 'POST', url: '/%67raphql', headers: { 'content-type': 'application/json', authorization: `Bearer ${operator}` }, payload: { query: '{ users(first: 1) { edges { cursor } } }' } });
    expect(response.json().errors).toBeUndefined();
  });

  it('counts a request to a percent-encoded path as the route it reaches', async () => {
    const post = (url: string) => hub.http.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' }, payload: { query: '{ __typename }' } });
    // Half of them through the encoded path: all must count for the 60 a minute to run out.
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push((await post(i % 2 ? '/%67raphql' : '/graphql')).statusCode);
    expect(answers[0]).toBe(200);
    expect(answers.at(-1)).toBe(429);
    expect((await post('/%67raphql')).statusCode).toBe(429);
  });

  it('counts each caller on its own, so one flood does not starve another at the same address', async () => {
    const other = await clientToken(hub, ['users:admin']);
    expect((await graphql(hub, '{ users(first: 1) { edges { cursor } } }', { token: other })).status).toBe(200);
  });

  it('counts an agent acting for a user as that agent, wherever its requests come from', async () => {
    const post = (remoteAddress: string) =>
      hub.http.inject({ method: 'POST', url: '/graphql', remoteAddress, headers: { 'content-type': 'application/json', authorization: `Bearer ${delegated}` }, payload: { query: '{ __typename }' } });
    // A new address for every request: moving gains nothing, the allowance is the agent's.
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push((await post(`198.18.0.${i + 1}`)).statusCode);
    expect(answers[0]).toBe(200);
    expect(answers.at(-1)).toBe(429);
  });

  it('counts nothing outside GraphQL and the exports: health probes and public documents are never answered 429', async () => {
    for (const url of ['/healthz', '/readyz', '/jwks.json']) {
      const statuses = new Set<number>();
      for (let i = 0; i < 61; i++) statuses.add((await hub.http.inject({ method: 'GET', url, remoteAddress: '203.0.113.77' })).statusCode);
      expect([...statuses], url).toEqual([200]);
    }
  });

  it('counts an anonymous IPv6 caller as its /64, so moving to another address of it gains nothing', async () => {
    const post = (remoteAddress: string) => hub.http.inject({ method: 'POST', url: '/graphql', remoteAddress, headers: { 'content-type': 'application/json' }, payload: { query: '{ __typename }' } });
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push((await post(`2001:db8:9:1::${(i + 1).toString(16)}`)).statusCode);
    expect(answers[0]).toBe(200);
    expect(answers.at(-1)).toBe(429);
    expect((await post('2001:db8:9:2::1')).statusCode).toBe(200);
  });
});
