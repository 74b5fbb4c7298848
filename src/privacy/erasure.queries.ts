import type { Db } from '../db/connect.js';

// The writes of an erasure, across the tables that hold a person. They run in the erasure's one
// transaction; each is idempotent, so nothing depends on the order a retry would take.

/**
 * The user's row locked for the rest of the transaction, so two erasures of one person take turns.
 * `for no key update`: a concurrent insert that only references the user (a consent, a refresh
 * token) is not blocked by it, and so cannot deadlock with the erasure's own later locks.
 */
export async function lockUserForErasure(db: Db, userId: string) {
  return db.selectFrom('users').select(['id', 'status', 'email', 'updated_at']).where('id', '=', userId).forNoKeyUpdate().executeTakeFirst();
}

/**
 * How many audiences the user is in at `now`: their rows whose consent has not expired, as an
 * audience selects them. The audience triggers remove the rows as the user changes; a row of an
 * expired consent stays until then, and counts for nothing.
 */
export async function countAudienceMemberships(db: Db, userId: string, now: Date): Promise<number> {
  const row = await db
    .selectFrom('audience_members')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Revokes every refresh-token family of the user still usable at `now` (their own sessions and
 * every agent's delegated ones); resolves to how many, each a token that was still usable.
 * Rotated tokens are revoked too, not only the newest of each family: a refresh under way holds
 * the token it uses and inserts the next one, and this statement, waiting for that token, sees it
 * rotated and not the one inserted. Revoked, the used token ends its family, the new one with it
 * (`findRefreshTokenRefusal` refuses a token of a family with a token revoked). Expired ones are
 * dead already.
 */
export async function revokeLiveRefreshTokensOfUser(db: Db, userId: string, now: Date): Promise<number> {
  const rows = await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('family_id')
    .execute();
  return new Set(rows.map((row) => row.family_id)).size;
}

/**
 * Deletes every refresh token of the user, their sessions' and every agent's delegated families
 * alike, once revoked (`revokeLiveRefreshTokensOfUser`): when each was used, by which client and
 * with what scope says what the person did, and nothing needs it once none can be used. A family
 * a refresh racing the erasure stores after this statement began is left, dead with the user, to
 * the pruning of ended families (migration 0023). Resolves to how many rows went.
 */
export async function deleteRefreshTokensOfUser(db: Db, userId: string): Promise<number> {
  const result = await db.deleteFrom('refresh_tokens').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Deletes every approval of the user, whatever its state, in the caller's transaction (an
 * erasure, which holds the user's row locked); resolves to how many. `requestApproval` takes that
 * row first and holds it for its whole transaction: a request under way commits first and its
 * approval is deleted too; a request that waits for the row then finds the user no longer active.
 * An approval being answered or used keeps its row locked until that commits, and is then deleted.
 */
export async function deleteApprovalsOfUser(db: Db, userId: string): Promise<number> {
  const rows = await db.deleteFrom('approvals').where('user_id', '=', userId).returning('id').execute();
  return rows.length;
}

/** Deletes the user's stored payment methods (masked as they are); resolves to how many. */
export async function deletePaymentMethodsOfUser(db: Db, userId: string): Promise<number> {
  const rows = await db.deleteFrom('payment_methods').where('user_id', '=', userId).returning('id').execute();
  return rows.length;
}

/**
 * Blanks every column of the user's row that describes the person and marks it `erased`. What is
 * left is the `usr_` id (the pseudonym the ledger and the audit trail keep), the status, and when
 * the account was created and erased (`updated_at`). The entry key goes too: the audit trail keeps
 * the HMACs it made of the person's payment entries (cards, payees, references), and without the
 * key they name no entry anyone can find again (crypto-shredding); migration 0019 refuses an
 * erased row that keeps one. The status change makes the audience triggers of migration 0006 drop
 * the user from every audience in this same transaction.
 */
export async function scrubUser(db: Db, userId: string, now: Date): Promise<void> {
  await db
    .updateTable('users')
    .set({
      status: 'erased',
      email: null,
      email_verified: false,
      password_hash: null,
      phone: null,
      given_name: null,
      family_name: null,
      birthdate: null,
      locale: null,
      country: null,
      address: null,
      preferences: '{}',
      loyalty_tier: null,
      loyalty_points: 0,
      last_login_at: null,
      entry_hmac_key: null,
      updated_at: now,
    })
    .where('id', '=', userId)
    .execute();
}

/** The name an erased person's agents keep: theirs could name the person ("Alice's helper"). */
const ERASED_AGENT_NAME = 'Agent of an erased person';

/**
 * Blanks what the person wrote about the agents they own, decommissioned now or before: the
 * name and description they chose. The rows stay, with their ids, for the ledger and the audit
 * trail that refer to them.
 */
export async function scrubAgentsOwnedBy(db: Db, userId: string): Promise<void> {
  await db.updateTable('agents').set({ name: ERASED_AGENT_NAME, description: null }).where('owner_user_id', '=', userId).execute();
}
