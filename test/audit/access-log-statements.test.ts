import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent } from '../helpers/oauth.js';
import { StatementLog, startCountedHub } from '../helpers/statements.js';

const log = new StatementLog();
let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;

beforeAll(async () => {
  hub = await startCountedHub(log);
  alice = await signUpUser(hub);
  await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
  await giveConsent(hub, alice.accessToken, { purpose: 'personalization' });
  await giveConsent(hub, alice.accessToken, { purpose: 'loyalty_offers' });
});
afterAll(() => hub.close());

describe('a user’s access log', () => {
  it('is read once for every place a query shows the same page of it, however many rows lead there', async () => {
    const query = '{ me { accessLog(first: 5) { edges { node { id } } } consents { user { accessLog(first: 5) { edges { node { id } } } } } } }';
    const response = await log.during(() => graphql<any>(hub, query, { token: alice.accessToken }));
    expect(response.errors).toBeUndefined();
    const own = response.data.me.accessLog;
    expect(own.edges.length).toBeGreaterThan(0);
    expect(response.data.me.consents.map((c: any) => c.user.accessLog)).toEqual([own, own, own]);
    expect(log.matching('"audit_events"')).toHaveLength(1);
  });

  it('answers each page asked for on its own: a bad cursor on one refuses that field alone', async () => {
    const query = '{ me { good: accessLog(first: 2) { edges { node { id } } } bad: accessLog(first: 2, after: "not a cursor") { edges { node { id } } } } }';
    const response = await graphql<any>(hub, query, { token: alice.accessToken });
    expect(response.data.me.good.edges).toHaveLength(2);
    expect(response.data.me.bad).toBeNull();
    expect(response.errors?.map((e: any) => [e.path, e.extensions.code])).toEqual([[['me', 'bad'], 'BAD_USER_INPUT']]);
  });
});
