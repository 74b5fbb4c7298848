import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, postForm, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { basic, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

let hub: Hub;
let admin: string;
let assistant: RegisteredAgent;
beforeAll(async () => {
  hub = await startTestHub();
  admin = await operatorToken(hub);
  assistant = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read', 'offline_access'] });
});
afterAll(() => hub.close());

const refresh = (refreshToken: string, scope?: string) =>
  postForm(hub, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...(scope && { scope }) }, basic(assistant));

/** The refusals in the user's own accessLog, as the user reads it. */
async function refusalsInAccessLog(user: { accessToken: string }) {
  await hub.services.audit.flush();
  const log = await graphql<any>(hub, '{ me { accessLog(first: 50) { edges { node { action decision reason clientId consentId actorChain } } } } }', { token: user.accessToken });
  return log.data.me.accessLog.edges.map((edge: any) => edge.node).filter((event: any) => event.action === 'token.refused');
}

describe('a token request refused for a user a verified token names', () => {
  it('is in the user’s trail, once per token, when the agent asks for more than it was granted or refreshes after the consent was withdrawn', async () => {
    const user = await signUpUser(hub);
    const consentId = await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const session = await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: 'orders:read offline_access' });
    expect(session.status).toBe(200);
    expect(await refresh(session.body.refresh_token, 'orders:read contact:read')).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    const next = await refresh(session.body.refresh_token);
    expect(next.status).toBe(200);
    const withdrawn = await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: user.accessToken, variables: { id: consentId } });
    expect(withdrawn.errors).toBeUndefined();

    // An agent retrying the same refused token writes its refusal into the user's trail once.
    for (let i = 0; i < 3; i++) expect(await refresh(next.body.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refusalsInAccessLog(user)).toEqual([
      { action: 'token.refused', decision: 'DENY', reason: 'invalid_grant: revoked refresh token', clientId: assistant.id, consentId, actorChain: [assistant.id] },
      { action: 'token.refused', decision: 'DENY', reason: 'invalid_scope: scope exceeds what the refresh token was granted', clientId: assistant.id, consentId, actorChain: [assistant.id] },
    ]);
  });

  it('is in the user’s trail when the agent exchanges the user’s token with no consent in force', async () => {
    const user = await signUpUser(hub);
    expect(await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: 'orders:read' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await refusalsInAccessLog(user)).toEqual([
      { action: 'token.refused', decision: 'DENY', reason: 'invalid_request: no live consent', clientId: assistant.id, consentId: null, actorChain: [assistant.id] },
    ]);
  });

  it('stays in the hub’s trail when a client that does not act for the user sends a delegated token', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { agentId: assistant.id, scopes: ['orders:read'] });
    const delegated = await exchange(hub, assistant, (await signIn(hub, user)).accessToken, { scope: 'orders:read' });
    const stranger = await registerAgent(hub, admin, { name: 'Stranger', allowedScopes: ['orders:read'] });
    expect(await exchange(hub, stranger, delegated.body.access_token, { scope: 'orders:read' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await refusalsInAccessLog(user)).toEqual([]);
  });

  it('stays in the hub’s trail when no verified token names a user', async () => {
    const user = await signUpUser(hub);
    expect(await refresh('not-a-refresh-token-of-anyone')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await exchange(hub, assistant, withSignatureChanged(user.accessToken), { scope: 'orders:read' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    await hub.services.audit.flush();
    const refused = await hub.services.db
      .selectFrom('audit_events')
      .select(['subject_user_id', 'reason'])
      .where('action', '=', 'token.refused')
      .where('reason', 'in', ['invalid_grant: unknown refresh token', 'invalid_request: subject_token: invalid signature'])
      .execute();
    expect(refused).toHaveLength(2);
    expect(refused.map((event) => event.subject_user_id)).toEqual([null, null]);
    expect(await refusalsInAccessLog(user)).toEqual([]);
  });
});

/** The token with the first character of its signature changed: still well-formed, no longer signed. */
function withSignatureChanged(token: string): string {
  const at = token.lastIndexOf('.') + 1;
  return `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
}
