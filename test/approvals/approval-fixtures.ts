import { afterAll } from 'vitest';
import { createHub, type Hub, type HubOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn as signInUser, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

export const START = '2031-03-01T09:00:00.000Z';

/** The password of every user `signUpUser` makes. */

const APPROVAL_FIELDS =
  'id status action amount currency creditorName description paymentMethodId card { brand last4 expMonth expYear } authorizationDetails user { id } agent { id } createdAt expiresAt decidedAt usedAt';

export type Response = Awaited<ReturnType<typeof graphql<any>>>;

/** `CODE/REASON` of the first error, or of none. */
export const refusal = (response: Response) => {
  const extensions = response.errors?.[0]?.extensions;
  return extensions ? `${extensions.code}/${extensions.reason ?? ''}` : 'none';
};

/**
 * A hub on a fresh database with a frozen clock, two users, and agents with and without payment write.
 * Its hub closes after the file's tests: made inside a test, where that afterAll never runs, the
 * test closes it.
 */
export async function approvalWorld(options: Pick<HubOptions, 'housekeepingEveryMs'> = {}) {
  const clock = fixedClock(START);
  const hub: Hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock, ...options });
  afterAll(() => hub.close());
  const admin = await operatorToken(hub);
  const alice = await signUpUser(hub, { givenName: 'Alice' });
  const bob = await signUpUser(hub, { givenName: 'Bob' });
  const paymentScopes = ['payment:read', 'payment:write', 'contact:read', 'orders:read'];
  const shopper = await registerAgent(hub, admin, { name: 'Shopping assistant', allowedScopes: paymentScopes });
  const rival = await registerAgent(hub, admin, { name: 'Another shopping assistant', allowedScopes: paymentScopes });
  const helper = await registerAgent(hub, admin, { name: 'Support assistant', allowedScopes: ['orders:read', 'contact:read', 'payment:read'] });

  /** A new session of the user, signed in with their password now: what answering an approval asks for. */
  const signIn = (user: { email: string }) => signInUser(hub, user);

  /**
   * The agent's delegated token for the user, after the user consents (by default for checkout with
   * payment read and write) with their session, then hands the agent `subjectToken` (by default a
   * new session) to exchange.
   */
  async function agentToken(
    agent: RegisteredAgent,
    user: { accessToken: string; email: string },
    consent: Record<string, unknown> = { purpose: 'checkout', scopes: ['payment:read', 'payment:write'] },
    subjectToken?: string,
  ) {
    await giveConsent(hub, user.accessToken, { agentId: agent.id, ...consent });
    const response = await exchange(hub, agent, subjectToken ?? (await signIn(user)).accessToken);
    if (response.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(response.body)}`);
    return response.body.access_token as string;
  }

  const request = (token: string, input: Record<string, unknown>) =>
    graphql<any>(hub, `mutation($input: RequestApprovalInput!) { requestApproval(input: $input) { ${APPROVAL_FIELDS} } }`, { token, variables: { input } });
  const answer = (token: string, verb: 'approve' | 'deny', id: string) => graphql<any>(hub, `mutation($id: ID!) { ${verb}(id: $id) { ${APPROVAL_FIELDS} } }`, { token, variables: { id } });

  /** The user answers `id` as a frontend has them do: signing in again after the request, then answering with that session. */
  const answerAfresh = async (user: { email: string }, verb: 'approve' | 'deny', id: string) => answer((await signIn(user)).accessToken, verb, id);
  const approval = (token: string, id: string) => graphql<any>(hub, `query($id: ID!) { approval(id: $id) { ${APPROVAL_FIELDS} } }`, { token, variables: { id } });
  const pay = (token: string, input: Record<string, unknown>) =>
    graphql<any>(hub, 'mutation($input: PaymentInput!) { authorizePayment(input: $input) { accessToken tokenType expiresIn authorizationDetails approval { id status usedAt } } }', {
      token,
      variables: { input },
    });
  const addCard = (token: string, input: Record<string, unknown>) =>
    graphql<any>(hub, 'mutation($input: PaymentMethodInput!) { addPaymentMethod(input: $input) { id brand last4 expMonth expYear } }', { token, variables: { input } });
  const changeCard = (token: string, input: Record<string, unknown>) =>
    graphql<any>(hub, 'mutation($input: ChangePaymentMethodInput!) { changePaymentMethod(input: $input) { id brand last4 expMonth expYear } }', { token, variables: { input } });

  /** Asks for a payment with `agentToken` and has the user, signed in again, approve it; resolves to the approval id. */
  async function approvedPayment(token: string, user: { email: string }, payment: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const asked = await request(token, { action: 'PAY', payment, ...extra });
    if (!asked.data?.requestApproval) throw new Error(`requestApproval failed: ${JSON.stringify(asked.errors)}`);
    const approved = await answerAfresh(user, 'approve', asked.data.requestApproval.id);
    if (approved.data?.approve?.status !== 'APPROVED') throw new Error(`approve failed: ${JSON.stringify(approved.errors)}`);
    return asked.data.requestApproval.id as string;
  }

  return { hub, clock, admin, alice, bob, shopper, rival, helper, agentToken, request, answer, signIn, answerAfresh, approval, pay, addCard, changeCard, approvedPayment };
}
