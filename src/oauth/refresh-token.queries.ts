import { sql, type Selectable } from 'kysely';
import type { Db } from '../db/connect.js';
import type { RefreshTokensTable } from '../db/database.js';
import type { GrantLink } from './access-token.js';

export type RefreshTokenRow = Selectable<RefreshTokensTable>;

/** How long a family's rows are kept once its last token has expired: a person's export lists those sessions meanwhile. */
const ENDED_FAMILY_RETENTION_SECONDS = 30 * 24 * 3_600;

/** Rows deleted at most with each token stored, so that no sign-in or refresh waits on a large family. */
const FORGET_AT_ONCE = 100;

/** Ended families whose rows one statement of the hub's housekeeping deletes at most. */
const FAMILIES_PER_PASS_STATEMENT = 100;

/**
 * Rows of up to `families` families whose every token expired more than
 * `ENDED_FAMILY_RETENTION_SECONDS` before `now`, `rows` at most, each family's latest token's row
 * (by which the index of migration 0023 finds the family) only once it is the last. By then
 * nothing stands on the family: access tokens naming it (`sid`) expired with it, families
 * exchanged from it ended no later, and a reused token of it is refused as unknown instead of
 * revoking what has already ended. Rows another transaction holds are skipped, to be deleted by
 * a later call.
 */
const endedFamilyRows = (now: Date, { families, rows }: { families: number; rows: number }) => {
  const cutoff = new Date(now.getTime() - ENDED_FAMILY_RETENTION_SECONDS * 1_000);
  return sql<string>`(
    select id from refresh_tokens where family_id in (
      select h.family_id from refresh_tokens h
      where h.rotated_at is null and h.expires_at < ${cutoff}
        and not exists (select 1 from refresh_tokens t where t.family_id = h.family_id and t.expires_at >= ${cutoff})
      limit ${families})
      and (rotated_at is not null or not exists (select 1 from refresh_tokens o where o.family_id = refresh_tokens.family_id and o.id <> refresh_tokens.id))
    limit ${rows} for update skip locked)`;
};

/**
 * Deletes up to `limit` rows of families that ended `ENDED_FAMILY_RETENTION_SECONDS` ago, for the
 * hub's housekeeping: on an instance nobody signs in to or refreshes at, no token stored deletes
 * them. Resolves to how many rows went.
 */
export async function deleteEndedFamilyRows(db: Db, now: Date, limit: number): Promise<number> {
  const result = await db.deleteFrom('refresh_tokens').where('id', 'in', endedFamilyRows(now, { families: FAMILIES_PER_PASS_STATEMENT, rows: limit })).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * The family's rows of rotated tokens whose text names them (`named_in_token`), but the one the
 * new token `replaces`: a token of theirs that comes back is known by its name
 * (src/oauth/refresh-tokens.ts) and revokes the family as its row would. Kept: the first row,
 * which says when the family began; the token just used, which a revocation racing its refresh
 * may be waiting on (see `findRefreshTokenRefusal`); and revoked rows, which have ended the
 * family. Run as the family's next token is stored, so a family holds three rows, and any
 * revoked ones, however often it is refreshed. None for a token that starts its family. The first
 * row is the least id in byte order, as ULIDs sort by time: a database's own collation may not
 * (a Czech one sorts CH after H, a Danish one AA after Z).
 */
const rotatedRowsOf = (familyId: string, replaces: string | undefined) => sql<string>`(
  select id from refresh_tokens
  where family_id = ${familyId} and ${replaces ?? null}::text is not null and id <> ${replaces ?? null}
    and named_in_token and rotated_at is not null and revoked_at is null
    and id <> (select min(id collate "C") from refresh_tokens where family_id = ${familyId})
  for update skip locked)`;

/**
 * Stores a refresh token, and deletes what no longer needs a row: the family's tokens rotated
 * before the one it replaces (`rotatedRowsOf`), and a few rows of a family that ended long ago
 * (`endedFamilyRows`; each row stored pays for deleting up to `FORGET_AT_ONCE` such rows). The
 * table holds the families in use, a few rows each, and those whose last token expired within
 * `ENDED_FAMILY_RETENTION_SECONDS`, not every token ever issued.
 */
export async function insertRefreshToken(
  db: Db,
  token: {
    id: string;
    familyId: string;
    replaces: string | undefined;
    tokenHash: Buffer;
    userId: string;
    clientId: string;
    scope: string;
    authTime: Date;
    consentId: string | null;
    actorChain: readonly string[];
    delegatedFrom: readonly GrantLink[];
    now: Date;
    expiresAt: Date;
  },
): Promise<void> {
  await db
    .with('rotated', (qb) => qb.deleteFrom('refresh_tokens').where('id', 'in', rotatedRowsOf(token.familyId, token.replaces)))
    .with('ended', (qb) => qb.deleteFrom('refresh_tokens').where('id', 'in', endedFamilyRows(token.now, { families: 1, rows: FORGET_AT_ONCE })))
    .insertInto('refresh_tokens')
    .values({
      id: token.id,
      family_id: token.familyId,
      token_hash: token.tokenHash,
      user_id: token.userId,
      client_id: token.clientId,
      scope: token.scope,
      auth_time: token.authTime,
      consent_id: token.consentId,
      actor_chain: [...token.actorChain],
      delegated_from: JSON.stringify(token.delegatedFrom),
      created_at: token.now,
      expires_at: token.expiresAt,
      named_in_token: true,
    })
    .execute();
}

/** Brings the expiry of the token with this hash forward to `notAfter`, if it ends later. */
export async function limitRefreshTokenExpiry(db: Db, tokenHash: Buffer, notAfter: Date): Promise<void> {
  await db.updateTable('refresh_tokens').set({ expires_at: notAfter }).where('token_hash', '=', tokenHash).where('expires_at', '>', notAfter).execute();
}

/** The token with this hash, locked for the rest of the transaction so two uses cannot both rotate it. */
export async function findRefreshTokenForUpdate(db: Db, tokenHash: Buffer): Promise<RefreshTokenRow | undefined> {
  return db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).forUpdate().executeTakeFirst();
}

/** The family's latest token (the one rotation has not replaced), locked like `findRefreshTokenForUpdate` when `forUpdate`. */
export async function findLatestRefreshToken(db: Db, familyId: string, forUpdate: boolean): Promise<RefreshTokenRow | undefined> {
  const latest = db.selectFrom('refresh_tokens').selectAll().where('family_id', '=', familyId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1);
  return (forUpdate ? latest.forUpdate() : latest).executeTakeFirst();
}

/**
 * Takes, until the transaction ends, the turn to start a family of the user with the client: the
 * live families are counted after it, so two starting at once cannot each count the other's room
 * (`findLiveFamiliesBeyond`). Read committed: the count after the wait sees the other's family.
 */
export async function lockNewFamilies(db: Db, userId: string, clientId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`refresh_families:${userId}:${clientId}`}))`.execute(db);
}

/**
 * The latest rows of the user's live families with the client (no token revoked, the latest not
 * expired) past the `keep` most recently refreshed, the least recently refreshed `limit` of them.
 */
export async function findLiveFamiliesBeyond(db: Db, userId: string, clientId: string, keep: number, limit: number, now: Date): Promise<RefreshTokenRow[]> {
  const beyond = db
    .selectFrom('refresh_tokens as h')
    .selectAll()
    .where('h.user_id', '=', userId)
    .where('h.client_id', '=', clientId)
    .where('h.rotated_at', 'is', null)
    .where('h.revoked_at', 'is', null)
    .where('h.expires_at', '>', now)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('refresh_tokens as r').select('r.id').whereRef('r.family_id', '=', 'h.family_id').where('r.revoked_at', 'is not', null))))
    .orderBy('h.created_at', 'desc')
    .orderBy('h.id', 'desc')
    .offset(keep);
  return db.selectFrom(beyond.as('b')).selectAll().orderBy('b.created_at').orderBy('b.id').limit(limit).execute();
}

export async function markRefreshTokenRotated(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('refresh_tokens').set({ rotated_at: now }).where('id', '=', id).execute();
}

/** Rows whose `delegated_from` names this grant; matches the partial GIN index of migration 0010. */
const descendsFrom = (link: Partial<GrantLink>) => sql`delegated_from <> '[]' and delegated_from @> ${JSON.stringify([link])}::jsonb`;

/**
 * Revokes a family, and with it every family exchanged from one of its access tokens, at any
 * depth; resolves to the number of tokens it revoked, none when a concurrent revocation did first.
 */
export async function revokeRefreshTokenFamily(db: Db, familyId: string, now: Date): Promise<number> {
  const result = await sql`update refresh_tokens set revoked_at = ${now}
    where revoked_at is null and (family_id = ${familyId} or (${descendsFrom({ sid: familyId })}))`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Revokes every family exchanged from the access token `jti`, at any depth: that token itself was revoked. */
export async function revokeRefreshTokensDelegatedFrom(db: Db, jti: string, now: Date): Promise<void> {
  await sql`update refresh_tokens set revoked_at = ${now} where revoked_at is null and ${descendsFrom({ jti })}`.execute(db);
}

/**
 * The latest end of each of these families (each rotation extends a family), the earliest of
 * them: what a family exchanged from their tokens may not outlive. A family not found has ended.
 */
export async function findRefreshFamiliesEnd(db: Db, familyIds: readonly string[]): Promise<Date | undefined> {
  const ids = [...new Set(familyIds)];
  if (ids.length === 0) return undefined;
  const rows = await db
    .selectFrom('refresh_tokens')
    .select((eb) => eb.fn.max('expires_at').as('ends_at'))
    .where('family_id', 'in', ids)
    .groupBy('family_id')
    .execute();
  if (rows.length < ids.length) return new Date(0);
  return new Date(Math.min(...rows.map((row) => new Date(row.ends_at).getTime())));
}

/**
 * Whether any token of the family has been revoked. One statement on the `refresh_tokens_family`
 * index; a revocation ends a whole family, never one token of it, so one is enough to know.
 */
export async function isRefreshFamilyRevoked(db: Db, familyId: string): Promise<boolean> {
  const { rows } = await sql<{ revoked: boolean }>`select exists (select 1 from refresh_tokens where family_id = ${familyId} and revoked_at is not null) as revoked`.execute(db);
  return rows[0]!.revoked;
}

/** The token with this hash, without a lock: for introspection and revocation. */
export async function findRefreshToken(db: Db, tokenHash: Buffer): Promise<RefreshTokenRow | undefined> {
  return db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

export async function revokeRefreshTokensOfConsents(db: Db, consentIds: readonly string[], now: Date): Promise<void> {
  if (consentIds.length === 0) return;
  await db.updateTable('refresh_tokens').set({ revoked_at: now }).where('consent_id', 'in', consentIds).where('revoked_at', 'is', null).execute();
}

/**
 * Revokes every refresh token of the user: their sessions and the agents' delegated ones. Every
 * access token issued with one of their families (`sid`), or exchanged from such a token
 * (`delegated_from`), is refused from then on. Resolves to how many families it revoked.
 */
export async function revokeRefreshTokensOfUser(db: Db, userId: string, now: Date): Promise<number> {
  const rows = await db.updateTable('refresh_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).returning('family_id').execute();
  return new Set(rows.map((row) => row.family_id)).size;
}

/** Revokes every refresh token the agent holds (its client id) or acts in (its actor chain). */
export async function revokeRefreshTokensOfAgent(db: Db, agentId: string, now: Date): Promise<void> {
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('client_id', '=', agentId), eb.and([eb('consent_id', 'is not', null), eb('actor_chain', '@>', sql<string[]>`array[${agentId}]::text[]`)])]))
    .execute();
}
