import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SIGNING_ALG } from '../../src/oauth/key-store.js';
import { issuePaymentToken, PAYMENT_TOKEN_TTL } from '../../src/oauth/payment-token.js';
import { graphql, postForm } from '../helpers/hub.js';
import { basic, claimsOf, operatorCredentials, registerAgent } from '../helpers/oauth.js';
import { approvalWorld } from './approval-fixtures.js';

// A payment token stands on the agent's delegated token and the consent behind it: it must not
// outlive the consent, and introspection must see the consent end the moment it does.

const world = await approvalWorld();
const { hub, clock, admin, alice, bob, shopper, agentToken, approvedPayment, pay } = world;

const PAYMENT = { amount: '42', currency: 'EUR', creditorName: 'Example Shop GmbH', description: 'Order 9000' };
const seconds = (date: Date) => Math.floor(date.getTime() / 1_000);
const introspect = async (token: string) => (await postForm(hub, '/oauth/introspect', { token }, basic(shopper))).body;
const me = (token: string) => graphql(hub, '{ me { id } }', { token });

/** Pays PAYMENT with `delegated`, approved by `user`; resolves to the payment token and its answer. */
async function paidWith(delegated: string, user: { email: string }) {
  await approvedPayment(delegated, user, PAYMENT);
  const paid = await pay(delegated, PAYMENT);
  expect(paid.errors).toBeUndefined();
  return paid.data.authorizePayment as { accessToken: string; expiresIn: number };
}

describe('a payment token', () => {
  it('carries the consent it stands on as consent_id, as the delegated token names it, and introspection says so', async () => {
    const delegated = await agentToken(shopper, bob);
    const { accessToken } = await paidWith(delegated, bob);
    const consentId = claimsOf(delegated).consent_id;
    expect(consentId).toMatch(/^cns_/);
    expect(claimsOf(accessToken).consent_id).toBe(consentId);
    expect(await introspect(accessToken)).toMatchObject({ active: true, sub: bob.id, consent_id: consentId });
  });

  it('ends when its consent expires, before 90 s have passed, and introspects inactive after', async () => {
    const start = clock.now();
    try {
      const consentEnds = new Date(start.getTime() + 20_000);
      const delegated = await agentToken(shopper, alice, { purpose: 'checkout', scopes: ['payment:read', 'payment:write'], expiresAt: consentEnds.toISOString() });
      const paid = await paidWith(delegated, alice);
      expect(paid.expiresIn).toBe(20);
      expect(claimsOf(paid.accessToken).exp).toBe(seconds(consentEnds));
      expect(await introspect(paid.accessToken)).toMatchObject({ active: true });
      clock.advance(30);
      expect((await me(delegated)).status).toBe(401);
      expect(await introspect(paid.accessToken)).toEqual({ active: false });
    } finally {
      clock.set(start);
    }
  });

  it('ends when the delegated token it was issued with ends, before 90 s have passed', async () => {
    const start = clock.now();
    try {
      const delegated = await agentToken(shopper, bob);
      const tokenEnds = claimsOf(delegated).exp as number;
      clock.set(new Date((tokenEnds - 25) * 1_000));
      const paid = await paidWith(delegated, bob);
      expect(paid.expiresIn).toBe(25);
      expect(claimsOf(paid.accessToken).exp).toBe(tokenEnds);
    } finally {
      clock.set(start);
    }
  });

  it('names the delegated token it was issued with, and introspects inactive once that token is revoked', async () => {
    const delegated = await agentToken(shopper, bob);
    const { accessToken } = await paidWith(delegated, bob);
    expect(claimsOf(accessToken).delegated_from).toEqual([{ jti: claimsOf(delegated).jti }, ...claimsOf(delegated).delegated_from]);
    expect(await introspect(accessToken)).toMatchObject({ active: true });
    expect((await postForm(hub, '/oauth/revoke', { token: delegated }, basic(shopper))).status).toBe(200);
    expect((await me(delegated)).status).toBe(401);
    expect(await introspect(accessToken)).toEqual({ active: false });
  });

  it('introspects inactive once the user signs out of the session the agent’s token was exchanged from', async () => {
    const session = await world.signIn(alice);
    const { accessToken } = await paidWith(await agentToken(shopper, alice, undefined, session.accessToken), alice);
    expect(await introspect(accessToken)).toMatchObject({ active: true });
    expect((await postForm(hub, '/oauth/revoke', { token: session.refreshToken, client_id: 'hub-frontend' })).status).toBe(200);
    expect(await introspect(accessToken)).toEqual({ active: false });
  });

  it('introspects inactive as soon as its consent is withdrawn', async () => {
    const delegated = await agentToken(shopper, alice);
    const { accessToken } = await paidWith(delegated, alice);
    expect(await introspect(accessToken)).toMatchObject({ active: true });
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', {
      token: alice.accessToken,
      variables: { id: claimsOf(delegated).consent_id },
    });
    expect(withdrawn.data.withdrawConsent.status).toBe('WITHDRAWN');
    expect((await me(delegated)).status).toBe(401);
    expect(await introspect(accessToken)).toEqual({ active: false });
    expect((await postForm(hub, '/oauth/introspect', { token: accessToken }, basic(world.hub.bootstrapCredentials!))).body).toEqual({ active: false });
  });

  it('introspects inactive while the agent it was issued to is suspended', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Paying assistant', allowedScopes: ['payment:read', 'payment:write'] });
    const { accessToken } = await paidWith(await agentToken(agent, bob), bob);
    const asOperator = async () => (await postForm(hub, '/oauth/introspect', { token: accessToken }, basic(operatorCredentials(hub)))).body;
    expect(await asOperator()).toMatchObject({ active: true });
    const suspended = await graphql<any>(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agent.id } });
    expect(suspended.data.suspendAgent.status).toBe('SUSPENDED');
    expect(await asOperator()).toEqual({ active: false });
  });

  it.each([
    ['living a year', (iat: number) => ({ iat, exp: iat + 365 * 86_400 })],
    ['living 90 s and two minutes', (iat: number) => ({ iat, exp: iat + PAYMENT_TOKEN_TTL + 120 })],
    ['issued an hour ahead', (iat: number) => ({ iat: iat + 3_600, exp: iat + 3_600 + PAYMENT_TOKEN_TTL })],
  ])('signed with the hub key but %s is not one: introspection says inactive', async (_, times) => {
    const delegated = await agentToken(shopper, bob);
    const { accessToken } = await paidWith(delegated, bob);
    const { kid, privateKey } = hub.services.keys.signingKey();
    const forged = await new SignJWT({ ...claimsOf(accessToken), ...times(seconds(clock.now())) })
      .setProtectedHeader({ alg: SIGNING_ALG, typ: 'at+jwt', kid })
      .sign(privateKey);
    expect(await introspect(forged)).toEqual({ active: false });
  });
});

describe('issuePaymentToken', () => {
  const claims = { sub: 'usr_x', client_id: 'agt_x', act: { sub: 'agt_x' }, consent_id: 'cns_x', purpose: 'checkout', scope: 'payment:write', delegated_from: [{ jti: 'jti_x' }], authorization_details: [{ type: 'payment_initiation' }] };
  const now = new Date('2031-03-01T09:00:00.400Z');
  const later = (ms: number) => new Date(now.getTime() + ms);

  it('lives 90 s when nothing it stands on ends sooner', async () => {
    const issued = await issuePaymentToken(hub.services.keys, hub.config.issuer, claims, { now, notAfter: [null, later(3_600_000)] });
    expect(issued!.expiresIn).toBe(PAYMENT_TOKEN_TTL);
    expect(claimsOf(issued!.accessToken)).toMatchObject({ iat: seconds(now), exp: seconds(now) + 90, consent_id: 'cns_x' });
  });

  it('ends at the earliest of what it stands on (the delegated token, the consent), never after', async () => {
    const issued = await issuePaymentToken(hub.services.keys, hub.config.issuer, claims, { now, notAfter: [later(50_000), later(12_800)] });
    expect(issued!.expiresIn).toBe(13);
    expect(issued!.expiresAt.getTime()).toBeLessThanOrEqual(later(12_800).getTime());
  });

  it('issues nothing when what it stands on ends within the second', async () => {
    expect(await issuePaymentToken(hub.services.keys, hub.config.issuer, claims, { now, notAfter: [later(500)] })).toBeUndefined();
  });
});
