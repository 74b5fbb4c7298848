import type { Selectable } from 'kysely';
import type { Db } from '../db/connect.js';
import type { RefreshTokensTable } from '../db/database.js';

export type RefreshTokenRow = Selectable<RefreshTokensTable>;

export async function insertRefreshToken(
  db: Db,
  token: { id: string; familyId: string; tokenHash: Buffer; userId: string; clientId: string; scope: string; authTime: Date; now: Date; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('refresh_tokens')
    .values({
      id: token.id,
      family_id: token.familyId,
      token_hash: token.tokenHash,
      user_id: token.userId,
      client_id: token.clientId,
      scope: token.scope,
      auth_time: token.authTime,
      created_at: token.now,
      expires_at: token.expiresAt,
    })
    .execute();
}

/** The token with this hash, locked for the rest of the transaction so two uses cannot both rotate it. */
export async function findRefreshTokenForUpdate(db: Db, tokenHash: Buffer): Promise<RefreshTokenRow | undefined> {
  return db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).forUpdate().executeTakeFirst();
}

export async function markRefreshTokenRotated(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('refresh_tokens').set({ rotated_at: now }).where('id', '=', id).execute();
}

export async function revokeRefreshTokenFamily(db: Db, familyId: string, now: Date): Promise<void> {
  await db.updateTable('refresh_tokens').set({ revoked_at: now }).where('family_id', '=', familyId).where('revoked_at', 'is', null).execute();
}
