import { createHmac, hash, randomBytes } from 'node:crypto';
import type { Services } from '../app.js';
import { auditInTransaction, SYSTEM_ACTOR } from '../audit/audit.service.js';
import type { Db } from '../db/connect.js';
import { constantTimeEqual } from '../shared/constant-time.js';
import { isId, newId } from '../shared/ids.js';
import { enqueueWebhookEvent, type WebhookEvent } from '../webhooks/webhook-outbox.js';
import type { GrantLink } from './access-token.js';
import { invalidGrant, type RefusalSubject } from './oauth-error.js';
import {
  findLatestRefreshToken,
  findLiveFamiliesBeyond,
  findRefreshToken,
  findRefreshTokenForUpdate,
  insertRefreshToken,
  isRefreshFamilyRevoked,
  lockNewFamilies,
  markRefreshTokenRotated,
  revokeRefreshTokenFamily,
  type RefreshTokenRow,
} from './refresh-token.queries.js';

/** Lifetime of one refresh token; each use replaces it with a new one. */
const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3_600;

/** SHA-256, not a slow hash: the token is 256 random bits, beyond any guessing. */
export const hashRefreshToken = (token: string) => hash('sha256', token, 'buffer');
const hashToken = hashRefreshToken;

/** Longest refresh token looked up; the hub's are 126 characters (43 before migration 0023). */
export const MAX_REFRESH_TOKEN_LENGTH = 160;

/** Bytes of the MAC that ends a refresh token's text. */
const NAME_MAC_BYTES = 16;

const nameMac = (key: Buffer, body: string) => createHmac('sha256', key).update(body).digest().subarray(0, NAME_MAC_BYTES).toString('base64url');

/**
 * A refresh token's text: `<row id>~<family id>~<256 random bits>~<MAC>`, the MAC being
 * HMAC-SHA-256 of the rest under the key store's `refreshTokenKey`, cut to 128 bits. Only the
 * hash of the whole text is stored, and the random part keeps it beyond guessing, with or without
 * that key. The MAC proves the hub named that row and family in it, so the token is still known
 * once its row is deleted after its rotation (see `insertRefreshToken`): its reuse revokes the
 * family as a stolen copy's does, however long after. `~` appears in no id and no base64url, and
 * keeps the text apart from a JWT's dots.
 */
function newTokenText(key: Buffer, rowId: string, familyId: string): string {
  const body = `${rowId}~${familyId}~${randomBytes(32).toString('base64url')}`;
  return `${body}~${nameMac(key, body)}`;
}

/** The row and family a refresh token's text names, when the hub's MAC vouches for them; undefined for any other text. */
function namedIn(key: Buffer, token: string): { readonly rowId: string; readonly familyId: string } | undefined {
  const parts = token.split('~');
  if (parts.length !== 4) return undefined;
  const [rowId, familyId, , mac] = parts as [string, string, string, string];
  if (!isId('rt', rowId) || !isId('rt', familyId)) return undefined;
  const expected = Buffer.from(nameMac(key, token.slice(0, token.lastIndexOf('~'))));
  return constantTimeEqual(Buffer.from(mac), expected) ? { rowId, familyId } : undefined;
}

export interface RefreshGrant {
  readonly userId: string;
  readonly clientId: string;
  readonly scope: string;
  readonly authTime: Date;
  /** The family the token continues, or starts (see `newRefreshFamilyId`); its own id when absent. */
  readonly familyId?: string;
  /** The id of the family's token it replaces, used in the same transaction (see `rotatedRowsOf`); none for a new family. */
  readonly replaces?: string;
  /** For delegated access: the consent it was issued under and the acting agents, nearest first. */
  readonly consentId?: string;
  readonly actorChain?: readonly string[];
  /** For a sub-agent's hop: the grants of the tokens it was exchanged from (`delegated_from`), nearest first. */
  readonly delegatedFrom?: readonly GrantLink[];
  /** A bound on its lifetime (the consent's expiry, its parent family's end), below REFRESH_TOKEN_TTL_SECONDS. */
  readonly notAfter?: Date | null;
  /** The request that asked for a new family, named in the events of the families it ends. */
  readonly requestId?: string | null;
}

/** The earliest of these bounds on a refresh token's life (a consent's expiry, a parent family's end); undefined for none. */
export function earliestOf(...bounds: readonly (Date | null | undefined)[]): Date | undefined {
  const set = bounds.filter((bound) => bound instanceof Date);
  return set.length === 0 ? undefined : new Date(Math.min(...set.map((bound) => bound.getTime())));
}

/** The id of a new refresh token family, for the access token issued with its first token (`sid`). */
export const newRefreshFamilyId = () => newId('rt');

/**
 * Stores a new refresh token and resolves to its text (see `newTokenText`); only its hash is kept.
 * One that starts a family (it `replaces` none) first makes room for it among the user's families
 * with the client (`endLeastRecentFamilies`): call it before the transaction writes to the user's
 * audit trail.
 */
export async function issueRefreshToken(db: Db, key: Buffer, grant: RefreshGrant, now: Date): Promise<string> {
  if (grant.replaces === undefined) await endLeastRecentFamilies(db, grant, now);
  const id = newId('rt');
  const familyId = grant.familyId ?? id;
  const token = newTokenText(key, id, familyId);
  await insertRefreshToken(db, {
    id,
    familyId,
    replaces: grant.replaces,
    tokenHash: hashToken(token),
    userId: grant.userId,
    clientId: grant.clientId,
    scope: grant.scope,
    authTime: grant.authTime,
    consentId: grant.consentId ?? null,
    actorChain: grant.actorChain ?? [],
    delegatedFrom: grant.delegatedFrom ?? [],
    now,
    expiresAt: new Date(Math.min(now.getTime() + REFRESH_TOKEN_TTL_SECONDS * 1_000, grant.notAfter?.getTime() ?? Infinity)),
  });
  return token;
}

/**
 * The `token.revoked` webhook event of a refresh token's family: `revoked` at /oauth/revoke,
 * `reused` when a rotated token came back, the sign of a stolen copy, `limit` when a new family
 * ended it (`endLeastRecentFamilies`).
 */
export function refreshFamilyRevokedEvent(row: RefreshTokenRow, reason: 'revoked' | 'reused' | 'limit'): WebhookEvent {
  return {
    type: 'token.revoked',
    data: { tokenType: 'refresh_token', reason, tokenId: row.id, familyId: row.family_id, clientId: row.client_id, userId: row.user_id, consentId: row.consent_id },
  };
}

/**
 * Live refresh-token families a user may have with one client, as Google allows an account per
 * client: sessions signed in, or an agent's offline access obtained by exchanges.
 */
export const MAX_LIVE_FAMILIES = 100;

/** Families one new family ends at most: more live ones (from before the limit) end over the next ones. */
const MAX_ENDED_AT_ONCE = 10;

/**
 * Makes room for a new family of the user with the client, in the caller's transaction: ends the
 * least recently refreshed of the live families past the `MAX_LIVE_FAMILIES - 1` most recently
 * refreshed (`MAX_ENDED_AT_ONCE` at most), each with every family exchanged from it, recorded in
 * the user's trail under the grant's request and announced (`token.revoked`, `limit`). So a
 * client that signs in or exchanges again and again, never using the refresh tokens it got, holds
 * at most that many, and the ones it last used stay; new families of the user with the client
 * take turns, so as many started at once hold no more. Call it before the transaction writes to
 * the user's audit trail: a refresh or revocation of one of these families holds its rows, then
 * waits on that trail.
 */
async function endLeastRecentFamilies(tx: Db, { userId, clientId, requestId = null }: RefreshGrant, now: Date): Promise<void> {
  await lockNewFamilies(tx, userId, clientId);
  const ended: RefreshTokenRow[] = [];
  for (const row of await findLiveFamiliesBeyond(tx, userId, clientId, MAX_LIVE_FAMILIES - 1, MAX_ENDED_AT_ONCE, now)) {
    // Ended already by a concurrent revocation, which recorded it.
    if ((await revokeRefreshTokenFamily(tx, row.family_id, now)) > 0) ended.push(row);
  }
  if (ended.length === 0) return;
  const reason = `refresh token family ended: the client's ${MAX_LIVE_FAMILIES} live ones for the user were exceeded`;
  await auditInTransaction(
    tx,
    ended.map((row) => ({
      action: 'token.revoked' as const,
      actor: SYSTEM_ACTOR,
      actorChain: row.actor_chain,
      subjectUserId: userId,
      clientId,
      consentId: row.consent_id,
      requestId,
      decision: 'ALLOW' as const,
      reason,
      detail: { familyId: row.family_id },
    })),
    now,
  );
  for (const row of ended) await enqueueWebhookEvent(tx, refreshFamilyRevokedEvent(row, 'limit'), now);
}

/** The user a refusal of the client's own refresh token concerns, with its consent and agents. */
export const refusalSubject = (row: RefreshTokenRow): RefusalSubject => ({ token: row.id, userId: row.user_id, consentId: row.consent_id, actorChain: row.actor_chain });

/**
 * Uses a refresh token once: marks it rotated and resolves to its grant, for the caller to issue
 * the next pair within the same transaction. A token used a second time is the sign of a stolen
 * copy (RFC 9700 §4.14.2): its whole family is revoked and announced (`token.revoked`), and the
 * caller must commit that.
 * @throws OAuthError invalid_grant, with the reason in its detail.
 */
export async function useRefreshToken(tx: Db, key: Buffer, token: string, clientId: string, now: Date): Promise<RefreshTokenRow & { familyRevoked?: boolean }> {
  const row = await findRefreshTokenRow(tx, key, token, { forUpdate: true });
  if (!row) throw invalidGrant('refresh token is invalid', 'unknown refresh token');
  if (row.client_id !== clientId) throw invalidGrant('refresh token is invalid', 'refresh token of another client');
  if (row.revoked_at) throw invalidGrant('refresh token is invalid', 'revoked refresh token').concerning(refusalSubject(row));
  if (row.rotated_at) {
    await revokeRefreshTokenFamily(tx, row.family_id, now);
    await enqueueWebhookEvent(tx, refreshFamilyRevokedEvent(row, 'reused'), now);
    return { ...row, familyRevoked: true };
  }
  if (row.expires_at <= now) throw invalidGrant('refresh token is invalid', 'expired refresh token').concerning(refusalSubject(row));
  await markRefreshTokenRotated(tx, row.id, now);
  return row;
}

/**
 * The row of a refresh token's text, locked for the rest of the transaction with `forUpdate`.
 * For a token whose row was deleted after its rotation (its text names it: see `newTokenText`),
 * the family's latest row stands for it, as rotated, with the token's own id, and revoked when
 * its family is (a revocation that raced a refresh may have left the latest row unrevoked: see
 * `findRefreshTokenRefusal`). Undefined when the text is nothing the hub issued, or of a family
 * deleted once it ended.
 */
export async function findRefreshTokenRow(db: Db, key: Buffer, token: string, { forUpdate }: { forUpdate: boolean }): Promise<RefreshTokenRow | undefined> {
  if (token.length > MAX_REFRESH_TOKEN_LENGTH) return undefined;
  const hash = hashToken(token);
  const row = forUpdate ? await findRefreshTokenForUpdate(db, hash) : await findRefreshToken(db, hash);
  if (row) return row;
  const named = namedIn(key, token);
  const latest = named && (await findLatestRefreshToken(db, named.familyId, forUpdate));
  if (!latest) return undefined;
  const revokedAt = latest.revoked_at ?? ((await isRefreshFamilyRevoked(db, latest.family_id)) ? latest.created_at : null);
  return { ...latest, id: named.rowId, rotated_at: latest.created_at, revoked_at: revokedAt };
}

/**
 * Why what stands behind a refresh token no longer does, or undefined while it does: no token of
 * its family revoked; its user active; for a delegated token, every agent of its chain (and their
 * ancestors) active, its consent in force, and none of the tokens or families it was exchanged
 * from revoked. One check for the refresh grants, which refuse such a token, and introspection
 * and the revocation of another client's token, which take it for dead. Reads through `db`, the
 * caller's transaction if it has one; the token's own revocation, rotation and expiry are the
 * caller's to check.
 *
 * Why the family and not only the token: a refresh locks the token it uses and inserts the next
 * one; a revocation (sign-out, reuse, a password change, a consent or an agent ended) that waits
 * on that lock then updates with a snapshot taken before the insert, so it revokes the used token
 * and misses the new one. A revocation ends a whole family, never one token of it, so one revoked
 * token is the family's end, as it already is for the access tokens issued with it (`sid`).
 * Checked here, where every refresh grant and introspection looks, rather than in each revoking
 * statement.
 */
export async function findRefreshTokenRefusal(services: Pick<Services, 'tokens'>, db: Db, row: RefreshTokenRow): Promise<string | undefined> {
  // One statement for what every use asks; a second only to name a revoked family for the audit.
  const delegation = row.consent_id ? { agentIds: row.actor_chain, consentId: row.consent_id, delegatedFrom: row.delegated_from } : { agentIds: [] };
  const state = await services.tokens.delegationState(db, { ...delegation, userId: row.user_id, familyId: row.family_id });
  if (state.familyRevoked && (await isRefreshFamilyRevoked(db, row.family_id))) return 'a token of its family is revoked';
  if (!state.agentsLive) return 'an agent of the chain is not active';
  if (!state.consentLive) return 'consent not in force';
  if (state.revoked || state.familyRevoked) return 'a token it was exchanged from is revoked';
  if (!state.userActive) return 'user is not active';
  return undefined;
}
