import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { PREPARED_MARKER } from '../db/prepared.js';
import { pastOnEveryClock } from '../shared/clock.js';

/** What a token exchange needs of a consent. */
export interface ExchangeConsent {
  readonly id: string;
  readonly purpose: string;
  readonly scopes: readonly string[];
  readonly expiresAt: Date | null;
}

/**
 * The grounds of a first-hop exchange, in one prepared statement: whether the user's subject token
 * was revoked (by its jti or with its refresh token family), whether the user is active (neither
 * suspended nor erased), and the user's consents naming the agent that are in force now, newest
 * first. It reads the consents table directly, like the per-request token check, because every
 * exchange runs it and a second round trip would cost more than the rest of its database work.
 *
 * The same statement records that the token was handed to the agent, whatever the exchange then
 * answers, until the token expires (its `exp`): the token check (`findTokenState`) refuses it as a
 * bearer token from then on. A token exchanged again keeps its first record, and then writes
 * nothing. The statement also forgets a few records of tokens expired on every instance's clock
 * (CLOCK_SKEW_MS before `now`: one whose clock is behind would accept the token again), skipping those a
 * concurrent exchange is forgetting, so that exchanges never wait on each other for it.
 */
export async function findExchangeGrounds(
  db: Db,
  facts: { readonly jti: string; readonly familyId?: string; readonly expiresAt: Date; readonly userId: string; readonly agentId: string },
  now: Date,
): Promise<{ revoked: boolean; userActive: boolean; consents: ExchangeConsent[] }> {
  const { rows } = await sql<{ revoked: boolean; user_active: boolean; id: string | null; purpose: string | null; scopes: string[] | null; expires_at: Date | null }>`${sql.raw(PREPARED_MARKER)}
    with forgotten as (
      delete from exchanged_subject_tokens where jti in (
        select jti from exchanged_subject_tokens where expires_at < ${pastOnEveryClock(now)} limit 100 for update skip locked)),
    recorded as (
      insert into exchanged_subject_tokens (jti, agent_id, expires_at, exchanged_at)
      values (${facts.jti}, ${facts.agentId}, ${facts.expiresAt}, ${now})
      on conflict (jti) do nothing)
    select (exists (select 1 from revoked_tokens where jti = ${facts.jti})
        or (${facts.familyId ?? null}::text is not null and exists (select 1 from refresh_tokens where family_id = ${facts.familyId ?? null} and revoked_at is not null))) as revoked,
      exists (select 1 from users where id = ${facts.userId} and status = 'active') as user_active, c.id, c.purpose, c.scopes, c.expires_at
    from (select 1) as one
    left join consents c on c.user_id = ${facts.userId} and c.agent_id = ${facts.agentId} and c.status = 'active'
      and (c.expires_at is null or c.expires_at > ${now})
    order by c.given_at desc, c.id desc`.execute(db);
  const consents = rows.flatMap((row) => (row.id ? [{ id: row.id, purpose: row.purpose!, scopes: row.scopes ?? [], expiresAt: row.expires_at }] : []));
  return { revoked: rows[0]?.revoked ?? false, userActive: rows[0]?.user_active ?? false, consents };
}

/**
 * Deletes up to `limit` records of handed tokens that expired on every instance's clock, as
 * `findExchangeGrounds` does a few at each exchange, for the hub's housekeeping: on an instance no
 * agent exchanges a token at any more, they go all the same. Skips the records another
 * transaction holds. Resolves to how many went.
 */
export async function deleteExpiredExchangedSubjectTokens(db: Db, now: Date, limit: number): Promise<number> {
  const result = await sql`delete from exchanged_subject_tokens where jti in (
    select jti from exchanged_subject_tokens where expires_at < ${pastOnEveryClock(now)} limit ${limit} for update skip locked)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
