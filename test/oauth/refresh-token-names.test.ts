import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, postForm, signUpUser } from '../helpers/hub.js';
import { startReceiver, type Receiver } from '../webhooks/receiver.js';
import { adminToken, startWebhookHub, subscribe, type TestClock } from '../webhooks/webhook-hub.js';

let hub: Hub;
let clock: TestClock;
let receiver: Receiver;
beforeAll(async () => {
  ({ hub, clock } = await startWebhookHub());
  receiver = await startReceiver({ secrets: () => ({}) });
  await subscribe(hub, await adminToken(hub), receiver.url, ['token.revoked']);
});
afterAll(async () => {
  await receiver.close();
  await hub.close();
});

/** A refresh a second after the last one, as a client's are. */
async function refresh(token: string) {
  clock.advance(1);
  return postForm(hub, '/oauth/token', { grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: token });
}

/** A session refreshed `times` times: each token it was handed, the first (signUp's) first. */
async function refreshedSession(times: number): Promise<{ userId: string; accessToken: string; tokens: string[] }> {
  const user = await signUpUser(hub);
  const tokens = [user.refreshToken];
  for (let i = 0; i < times; i++) {
    const response = await refresh(tokens.at(-1)!);
    expect(response.status).toBe(200);
    tokens.push(response.body.refresh_token as string);
  }
  return { userId: user.id, accessToken: user.accessToken, tokens };
}

const rowsOf = (userId: string) => hub.services.db.selectFrom('refresh_tokens').select(['id', 'token_hash']).where('user_id', '=', userId).orderBy('id').execute();
const rowIdIn = (token: string) => token.split('~')[0];
const sha256 = (text: string) => createHash('sha256').update(text).digest();

async function reusedEvents(userId: string) {
  const { rows } = await sql<{ body: string }>`select body from webhook_messages where event_type = 'token.revoked'`.execute(hub.services.db);
  return rows.map((row) => JSON.parse(row.body).data).filter((data) => data.userId === userId);
}

describe('a refresh token family, however often refreshed', () => {
  it('keeps the rows of its first, last used and latest tokens only', async () => {
    const session = await refreshedSession(5);
    expect((await rowsOf(session.userId)).map((row) => row.id)).toEqual([0, 4, 5].map((i) => rowIdIn(session.tokens[i]!)));
    expect((await refresh(session.tokens[5]!)).status).toBe(200);
  });

  it('knows a used token by its name once its row is gone: its reuse revokes the family, announced with its own id', async () => {
    const session = await refreshedSession(3);
    const stolen = session.tokens[1]!;
    expect((await rowsOf(session.userId)).map((row) => row.id)).not.toContain(rowIdIn(stolen));
    expect(await refresh(stolen)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(session.tokens[3]!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await graphql(hub, '{ me { id } }', { token: session.accessToken })).status).toBe(401);
    expect(await reusedEvents(session.userId)).toEqual([expect.objectContaining({ tokenType: 'refresh_token', reason: 'reused', tokenId: rowIdIn(stolen), clientId: 'hub-frontend' })]);
  });

  it('revokes itself at /oauth/revoke with a used token whose row is gone', async () => {
    const session = await refreshedSession(3);
    expect((await rowsOf(session.userId)).map((row) => row.id)).not.toContain(rowIdIn(session.tokens[1]!));
    expect((await postForm(hub, '/oauth/revoke', { client_id: 'hub-frontend', token: session.tokens[1]! })).status).toBe(200);
    expect(await refresh(session.tokens[3]!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await reusedEvents(session.userId)).toEqual([expect.objectContaining({ reason: 'revoked', tokenId: rowIdIn(session.tokens[1]!) })]);
  });

  it('keeps the row of the token just used while an instance’s clock is behind the last one’s', async () => {
    const session = await refreshedSession(2);
    clock.advance(-10);
    const next = await refresh(session.tokens[2]!);
    expect(next.status).toBe(200);
    expect((await rowsOf(session.userId)).map((row) => row.id)).toEqual([0, 2].map((i) => rowIdIn(session.tokens[i]!)).concat(rowIdIn(next.body.refresh_token)));
  });

  it('refuses a used token whose row is gone as revoked, announcing nothing, once a revocation has ended its family', async () => {
    const session = await refreshedSession(3);
    // What a revocation racing a refresh leaves: the family's first token revoked, its latest not.
    await hub.services.db.updateTable('refresh_tokens').set({ revoked_at: clock.now() }).where('id', '=', rowIdIn(session.tokens[0]!)!).execute();
    expect(await refresh(session.tokens[1]!)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await reusedEvents(session.userId)).toEqual([]);
  });

  it('takes a text with a MAC not its own for unknown, and revokes nothing', async () => {
    const session = await refreshedSession(3);
    const used = session.tokens[1]!;
    const forged = [
      used.slice(0, -1) + (used.endsWith('A') ? 'B' : 'A'),
      // Another family's id under the used token's MAC.
      used.replace(/~rt_[0-9A-Z]{26}~/, `~${rowIdIn(session.tokens[0]!)}~`),
    ];
    for (const token of forged) {
      expect(await refresh(token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect((await postForm(hub, '/oauth/revoke', { client_id: 'hub-frontend', token })).status).toBe(200);
    }
    expect((await refresh(session.tokens[3]!)).status).toBe(200);
    expect(await reusedEvents(session.userId)).toEqual([]);
  });

  it('keeps the rows of tokens issued before names, whose reuse only their row shows', async () => {
    const session = await refreshedSession(1);
    // The session's latest token as the hub issued it before: 43 random characters, no name.
    const unnamed = 'u'.repeat(43);
    const latest = (await rowsOf(session.userId)).at(-1)!;
    await hub.services.db.updateTable('refresh_tokens').set({ token_hash: sha256(unnamed) }).where('id', '=', latest.id).execute();
    await sql`update refresh_tokens set named_in_token = false where id = ${latest.id}`.execute(hub.services.db);
    const next = await refresh(unnamed);
    expect(next.status).toBe(200);
    expect((await refresh(next.body.refresh_token as string)).status).toBe(200);
    expect((await rowsOf(session.userId)).map((row) => row.id)).toContain(latest.id);
    expect(await refresh(unnamed)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await reusedEvents(session.userId)).toEqual([expect.objectContaining({ reason: 'reused', tokenId: latest.id })]);
  });
});
