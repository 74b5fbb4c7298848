import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Hub } from '../../src/app.js';
import { TEST_PASSWORD, graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { claimsOf, exchange, giveConsent, type RegisteredAgent } from '../helpers/oauth.js';

export const PASSWORD = TEST_PASSWORD;

/** A customer with a full profile, a stored card and two orders, signed up through the API. */
export async function customer(hub: Hub, names: { givenName: string; familyName: string }, placedAt: Date) {
  const user = await signUpUser(hub, { ...names, country: 'IS' });
  const updated = await graphql(hub, 'mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }', {
    token: user.accessToken,
    variables: {
      input: {
        phone: '+3545551234',
        birthdate: '1990-04-01',
        address: { line1: '12 Laugavegur', city: 'Reykjavik', postalCode: '101', country: 'IS' },
        preferences: { channels: ['email'], interests: ['hiking'] },
      },
    },
  });
  if (updated.errors) throw new Error(`updateProfile failed: ${JSON.stringify(updated.errors)}`);
  await hub.services.db.insertInto('payment_methods').values({ id: `pm_${user.id}`, user_id: user.id, brand: 'visa', last4: '4242', exp_month: 4, exp_year: 2033 }).execute();
  await hub.services.db
    .insertInto('orders')
    .values([1, 2].map((n) => ({ id: `ord_${n}_${user.id}`, user_id: user.id, placed_at: new Date(placedAt.getTime() - n * 86_400_000), total_minor: n * 1_000, currency: 'EUR', status: 'paid' as const, line_items: '[]' })))
    .execute();
  return user;
}

/**
 * The agent's delegated token for the user under a support consent the user gives with their
 * session `userToken`, exchanged from `handed`, a session the user hands the agent (by default a
 * new one, signed in now): the agent then reads the user's email and orders once.
 */
export async function agentReads(hub: Hub, agent: RegisteredAgent, userToken: string, handed?: string) {
  const consentId = await giveConsent(hub, userToken, { purpose: 'support', agentId: agent.id, scopes: ['orders:read', 'contact.email:read'] });
  const subjectToken = handed ?? (await handedSession(hub, userToken));
  const response = await exchange(hub, agent, subjectToken, { scope: 'orders:read contact.email:read offline_access' });
  if (response.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(response.body)}`);
  const token = response.body.access_token as string;
  const read = await graphql<any>(hub, '{ me { email orders { edges { node { id } } } } }', { token });
  if (read.errors) throw new Error(`agent read failed: ${JSON.stringify(read.errors)}`);
  await hub.services.audit.flush();
  return { consentId, token, refreshToken: response.body.refresh_token as string, subjectToken };
}

/** What the person wrote as the reference of a payment their agent asked them to approve. */
export const PAYMENT_REFERENCE = 'Gift for Alice Erasmus, 12 Laugavegur';

/**
 * The agent's delegated token for the user under a checkout consent (given with `userToken`,
 * exchanged from `handed`, by default a new session, as for `agentReads`), with which it asks the
 * user to approve a payment with their own reference, and adding a card, left pending. The user
 * approves the payment as answering asks: signed in again after the requests, with that session,
 * which they then sign out of, so that their sessions are as before. Resolves to the two
 * approval ids.
 */
export async function paymentApprovals(hub: Hub, agent: RegisteredAgent, userToken: string, handed?: string): Promise<string[]> {
  await giveConsent(hub, userToken, { purpose: 'checkout', agentId: agent.id, scopes: ['payment:read', 'payment:write'] });
  const response = await exchange(hub, agent, handed ?? (await handedSession(hub, userToken)));
  if (response.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(response.body)}`);
  const ask = async (input: Record<string, unknown>) => {
    const asked = await graphql<any>(hub, 'mutation($input: RequestApprovalInput!) { requestApproval(input: $input) { id } }', { token: response.body.access_token, variables: { input } });
    if (!asked.data?.requestApproval) throw new Error(`requestApproval failed: ${JSON.stringify(asked.errors)}`);
    return asked.data.requestApproval.id as string;
  };
  const payment = await ask({ action: 'PAY', payment: { amount: '59.90', currency: 'EUR', creditorName: 'Outdoor Shop ehf', description: PAYMENT_REFERENCE } });
  const card = await ask({ action: 'ADD_PAYMENT_METHOD', paymentMethod: { brand: 'visa', last4: '7319', expMonth: 4, expYear: 2033 } });
  const signedIn = await graphql<any>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken } }', {
    variables: { input: { email: await emailOf(hub, claimsOf(userToken).sub), password: PASSWORD } },
  });
  if (!signedIn.data?.signIn) throw new Error(`signIn failed: ${JSON.stringify(signedIn.errors)}`);
  const approved = await graphql<any>(hub, 'mutation($id: ID!) { approve(id: $id) { status } }', { token: signedIn.data.signIn.accessToken, variables: { id: payment } });
  if (approved.data?.approve?.status !== 'APPROVED') throw new Error(`approve failed: ${JSON.stringify(approved.errors)}`);
  const signedOut = await postForm(hub, '/oauth/revoke', { token: signedIn.data.signIn.refreshToken, client_id: 'hub-frontend' });
  if (signedOut.status !== 200) throw new Error(`sign-out failed: ${JSON.stringify(signedOut.body)}`);
  return [payment, card];
}

/** The access token of a new session of the user, signed in now, for them to hand an agent for a token exchange. */
async function handedSession(hub: Hub, userToken: string): Promise<string> {
  return (await signIn(hub, { email: await emailOf(hub, claimsOf(userToken).sub) })).accessToken;
}

/** The email the user signs in with. */
async function emailOf(hub: Hub, userId: string): Promise<string> {
  const { email } = await hub.services.db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirstOrThrow();
  return email!;
}

/** GET /users/:id/export with the token given; the body parsed when it is JSON. */
export async function exportOf(hub: Hub, userId: string, token?: string) {
  const response = await hub.http.inject({ method: 'GET', url: `/users/${userId}/export`, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const json = response.headers['content-type']?.toString().startsWith('application/json') ? JSON.parse(response.body) : undefined;
  return { status: response.statusCode, headers: response.headers, body: json };
}

export const ERASE = 'mutation($id: ID!) { eraseUser(id: $id) { userId erasedAt alreadyErased consentsWithdrawn agentsDecommissioned refreshTokensRevoked paymentMethodsDeleted approvalsDeleted audienceMembershipsRemoved } }';

/** The claims of a consent receipt, once its signature checks out against the hub's /jwks.json. */
export async function verifiedReceipt(hub: Hub, receipt: string) {
  const jwks = JSON.parse((await hub.http.inject({ method: 'GET', url: '/jwks.json' })).body);
  const { payload } = await jwtVerify(receipt, createLocalJWKSet(jwks), { typ: 'consent-receipt+jwt', issuer: hub.config.issuer });
  return payload;
}
