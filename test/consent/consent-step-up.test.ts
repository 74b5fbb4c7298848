import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { fixedClock } from '../../src/shared/clock.js';
import { graphql, postForm, signIn, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';
import { adminToken, startWebhookHub, subscribe } from '../webhooks/webhook-hub.js';

// A stolen access token must not become lasting access. Its thief registers an agent of their own
// (signed in themselves), whose ceiling holds offline_access, consents to it with the stolen token
// (a user may consent to another user's agent), then exchanges the stolen token for a delegated one
// with a refresh token that outlives it. So a consent to an agent that may hold a refresh token
// takes a recent sign-in, as registering that agent does.
const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;

const DAY = 86_400;
const OFFLINE = ['orders:read', 'offline_access'];
const GIVE = 'mutation($i: GiveConsentInput!) { giveConsent(input: $i) { id status } }';
const give = (token: string, input: Record<string, unknown>) => graphql<any>(hub, GIVE, { token, variables: { i: { purpose: 'support', ...input } } });
const refresh = (refreshToken: string) => postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: refreshToken });

/** What giving a consent writes about the user: ledger rows with their receipts, ledger events, audit events and webhook messages. */
async function writtenAbout(userId: string) {
  const { db } = hub.database;
  const consents = await db.selectFrom('consents').select(['id', 'receipt']).where('user_id', '=', userId).execute();
  const events = await db.selectFrom('consent_events').select('id').where('user_id', '=', userId).execute();
  await hub.services.audit.flush();
  const audited = await db.selectFrom('audit_events').select('id').where('subject_user_id', '=', userId).where('action', '=', 'consent.given').where('decision', '=', 'allow').execute();
  const { rows: messages } = await sql<{ body: string }>`select body from webhook_messages where event_type = 'consent.given'`.execute(db);
  return { consents, events: events.length, audited: audited.length, messages: messages.filter((m) => m.body.includes(userId)).length };
}

/** A user who typed their password `seconds` ago, on an access token refreshed since (each lives 10 minutes). */
async function signedInAgo(seconds: number) {
  const user = await signUpUser(hub);
  clock.advance(seconds - 60);
  const session = await refresh(user.refreshToken);
  expect(session.status).toBe(200);
  clock.advance(60);
  return { ...user, token: session.body.access_token as string };
}

/** A user signed in just now, and an agent of theirs with this ceiling. */
async function agentOfANewUser(allowedScopes: readonly string[]): Promise<RegisteredAgent> {
  const owner = await signUpUser(hub);
  return registerAgent(hub, owner.accessToken, { allowedScopes });
}

beforeAll(async () => {
  ({ hub } = await startWebhookHub({}, clock));
  await subscribe(hub, await adminToken(hub), 'http://127.0.0.1:8/hooks', ['consent.given']);
});
afterAll(() => hub.close());

describe('a stolen access token of a sign-in older than 10 minutes', () => {
  it('consents to no agent of the thief’s that may hold a refresh token, so the exchange yields none', async () => {
    const victim = await signedInAgo(20 * DAY);
    const thiefsAgent = await agentOfANewUser(OFFLINE);

    const refused = await give(victim.token, { agentId: thiefsAgent.id, scopes: ['orders:read'] });
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringContaining('sign in again'), extensions: { code: 'UNAUTHENTICATED' } });
    expect(await writtenAbout(victim.id)).toEqual({ consents: [], events: 0, audited: 0, messages: 0 });
    // What the stolen token tried is in the victim's own trail.
    const tried = await hub.database.db.selectFrom('audit_events').select(['action', 'reason', 'detail']).where('subject_user_id', '=', victim.id).where('decision', '=', 'deny').execute();
    expect(tried).toEqual([{ action: 'consent.given', reason: 'REAUTHENTICATE', detail: { agentId: thiefsAgent.id } }]);

    const exchanged = await exchange(hub, thiefsAgent, victim.token, { scope: 'orders:read offline_access' });
    expect(exchanged.status).toBe(400);
    expect(exchanged.body.refresh_token).toBeUndefined();
  });

  it('counts the 10 minutes from the sign-in to the second', async () => {
    const agent = await agentOfANewUser(OFFLINE);
    const inTime = await signedInAgo(10 * 60);
    expect((await give(inTime.token, { agentId: agent.id, scopes: ['orders:read'] })).data.giveConsent.status).toBe('ACTIVE');
    const late = await signedInAgo(10 * 60 + 1);
    expect((await give(late.token, { agentId: agent.id, scopes: ['orders:read'] })).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('still consents to the company and to an agent that can never hold a refresh token', async () => {
    const user = await signedInAgo(20 * DAY);
    const onlineAgent = await agentOfANewUser(['orders:read']);
    expect((await give(user.token, { purpose: 'email_marketing' })).data.giveConsent.status).toBe('ACTIVE');
    expect((await give(user.token, { agentId: onlineAgent.id, scopes: ['orders:read'] })).data.giveConsent.status).toBe('ACTIVE');
    // offline_access comes from the agent's ceiling alone: a consent never lists it.
    const listed = await give(user.token, { purpose: 'personalization', agentId: onlineAgent.id, scopes: ['orders:read', 'offline_access'] });
    expect(listed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.scopes' });

    const { accessToken: handed } = await signIn(hub, user);
    expect((await exchange(hub, onlineAgent, handed, { scope: 'orders:read offline_access' })).body).toMatchObject({ error: 'invalid_scope' });
    const exchanged = await exchange(hub, onlineAgent, handed, { scope: 'orders:read' });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body.refresh_token).toBeUndefined();
  });
});

describe('a user who signed in again', () => {
  it('consents to an agent that may hold a refresh token, whose exchange then yields one', async () => {
    const user = await signedInAgo(20 * DAY);
    const agent = await agentOfANewUser(OFFLINE);
    expect((await give(user.token, { agentId: agent.id, scopes: ['orders:read'] })).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });

    const fresh = await signIn(hub, user);
    const consentId = await giveConsent(hub, fresh.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    const written = await writtenAbout(user.id);
    expect(written.consents).toEqual([{ id: consentId, receipt: expect.any(String) }]);
    expect(written).toMatchObject({ events: 1, audited: 1, messages: 1 });

    const exchanged = await exchange(hub, agent, fresh.accessToken, { scope: 'orders:read offline_access' });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body).toMatchObject({ scope: 'orders:read offline_access', refresh_token: expect.any(String) });
  });
});
