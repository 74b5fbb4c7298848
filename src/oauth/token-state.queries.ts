import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { PREPARED_MARKER } from '../db/prepared.js';
import type { GrantState } from '../authz/principal.js';
import type { GrantLink } from './access-token.js';
import { pastOnEveryClock } from '../shared/clock.js';

/** What the database says, now, of a token whose signature and claims are valid. */
export interface TokenState {
  /** Revoked by its `jti`, or a token it was exchanged from by theirs. */
  readonly revoked: boolean;
  /**
   * Its refresh token family (`sid`), or that of a token it was exchanged from, was revoked: at
   * /oauth/revoke, on reuse, or with its consent.
   */
  readonly familyRevoked: boolean;
  /**
   * A user's own token (no agent, no consent named) was handed to an agent as the `subject_token`
   * of a token exchange: from then on it is the agent's to exchange, not a bearer token of the user.
   */
  readonly handed: boolean;
  /** The token's user, if it names one, exists and is active: neither suspended nor erased. */
  readonly userActive: boolean;
  /** Every agent named (and every ancestor of each) exists and is active, not expired, and so is the user owning it. */
  readonly agentsLive: boolean;
  /** For a delegated token: its consent exists, is the subject's, is active and not expired. */
  readonly consentLive: boolean;
  /** What the per-field decision needs of the same read; absent when no agent or consent was named. */
  readonly grant?: GrantState;
}

export interface TokenFacts {
  /** Absent for what has no jti (a refresh token's delegation): never revoked by jti then. */
  readonly jti?: string;
  /** The client (when it is an agent) and every agent of the `act` chain. */
  readonly agentIds: readonly string[];
  readonly consentId?: string;
  /** The refresh token family the token was issued with (`sid`): revoking the family revokes it. */
  readonly familyId?: string;
  /** The grants of the tokens it was exchanged from (`delegated_from`): revoking any of them revokes it. */
  readonly delegatedFrom?: readonly GrantLink[];
  /**
   * The user the token stands for (`sub` of a user or delegated token), who must be active; for a
   * delegated token also the user its consent must belong to. Absent for a client's own token.
   */
  readonly userId?: string;
}

/**
 * The revocation, user, agent and consent state of a token in one round trip, as a prepared
 * statement (planned once per connection). The token's own `jti` and family and those of every
 * token it was exchanged from are checked together, as arrays, so the statement's text never
 * varies with the length of a delegation chain. It reads the users, agents and consents tables
 * directly, not through their services: this runs on every authenticated request, and one cheap
 * statement is what keeps that affordable. An agent's ancestors come from its `ancestor_ids`, so
 * no recursion is needed; an agent, as each ancestor, is live only while the user owning it (if
 * any) is active. Nothing of it is cached: a suspension or erasure committed through any
 * instance is seen by every instance on the very next request, with no notification to wait for.
 */
export async function findTokenState(db: Db, facts: TokenFacts, now: Date): Promise<TokenState> {
  const userId = facts.userId ?? null;
  const ancestors = facts.delegatedFrom ?? [];
  const jtis = [facts.jti, ...ancestors.map((link) => link.jti)].filter((jti) => jti !== undefined);
  const familyIds = [facts.familyId, ...ancestors.map((link) => link.sid)].filter((sid) => sid !== undefined);
  const revoked = sql<boolean>`exists (select 1 from revoked_tokens where jti = any(${jtis}::text[]))`;
  const familyRevoked = sql<boolean>`exists (select 1 from refresh_tokens where family_id = any(${familyIds}::text[]) and revoked_at is not null)`;
  const userActive = sql<boolean>`(${userId}::text is null or exists (select 1 from users where id = ${userId} and status = 'active'))`;
  if (facts.agentIds.length === 0 && facts.consentId === undefined) {
    const { rows } = await sql<{ revoked: boolean; family_revoked: boolean; handed: boolean; user_active: boolean }>`${sql.raw(PREPARED_MARKER)}
      select ${revoked} as revoked, ${familyRevoked} as family_revoked,
        exists (select 1 from exchanged_subject_tokens where jti = ${facts.jti ?? null}) as handed, ${userActive} as user_active`.execute(db);
    const row = rows[0]!;
    return { revoked: row.revoked, familyRevoked: row.family_revoked, handed: row.handed, userActive: row.user_active, agentsLive: true, consentLive: true };
  }
  const ids = [...new Set(facts.agentIds)];
  const { rows } = await sql<StateRow>`${sql.raw(PREPARED_MARKER)}
    select
      ${revoked} as revoked,
      ${familyRevoked} as family_revoked,
      ${userActive} as user_active,
      (select count(*)::int from agents a
        where a.id = any(${ids}::text[]) and a.status = 'active' and (a.expires_at is null or a.expires_at > ${now})
          and (a.owner_user_id is null or exists (select 1 from users o where o.id = a.owner_user_id and o.status = 'active'))
          and not exists (select 1 from agents p where p.id = any(a.ancestor_ids)
            and not (p.status = 'active' and (p.expires_at is null or p.expires_at > ${now})
              and (p.owner_user_id is null or exists (select 1 from users o where o.id = p.owner_user_id and o.status = 'active'))))) as live_agents,
      c.status as consent_status, c.user_id as consent_user_id, c.scopes as consent_scopes, c.purpose as consent_purpose,
      (c.expires_at is not null and c.expires_at <= ${now}) as consent_expired,
      (select p.data_categories from purposes p where p.key = c.purpose order by p.version desc limit 1) as purpose_categories
    from (select 1) as one left join consents c on c.id = ${facts.consentId ?? null}`.execute(db);
  const row = rows[0]!;
  const consent = row.consent_status === null
    ? null
    : { userId: row.consent_user_id!, status: row.consent_status, expired: row.consent_expired === true, scopes: row.consent_scopes ?? [], purpose: row.consent_purpose! };
  const agentsLive = row.live_agents === ids.length;
  return {
    revoked: row.revoked,
    familyRevoked: row.family_revoked,
    handed: false,
    userActive: row.user_active,
    agentsLive,
    consentLive: facts.consentId === undefined || (consent !== null && consent.status === 'active' && !consent.expired && consent.userId === facts.userId),
    grant: { agentsLive, consent, purposeCategories: row.purpose_categories },
  };
}

interface StateRow {
  revoked: boolean;
  family_revoked: boolean;
  user_active: boolean;
  live_agents: number;
  consent_status: 'active' | 'withdrawn' | 'expired' | null;
  consent_user_id: string | null;
  consent_scopes: string[] | null;
  consent_purpose: string | null;
  consent_expired: boolean | null;
  purpose_categories: string[] | null;
}

/**
 * Records an access token as revoked until it expires; revoking twice changes nothing. Resolves
 * to true when this call revoked it, false when it was revoked already.
 */
export async function insertRevokedToken(db: Db, token: { jti: string; clientId: string; expiresAt: Date }, now: Date): Promise<boolean> {
  const inserted = await db
    .insertInto('revoked_tokens')
    .values({ jti: token.jti, client_id: token.clientId, expires_at: token.expiresAt, revoked_at: now })
    .onConflict((oc) => oc.column('jti').doNothing())
    .returning('jti')
    .executeTakeFirst();
  return inserted !== undefined;
}

/**
 * Forgets revocations of tokens that have expired anyway, on every instance's clock (CLOCK_SKEW_MS
 * past their expiry: one whose clock is behind would accept the token again), `limit` at a time, so it never blocks
 * long), revoking for good first every refresh family exchanged from one of them that is not
 * revoked yet. A revocation revokes those families at once, but one stored by an exchange that
 * read the token just before it was revoked escapes it, and is refused only while the revocation
 * is remembered (a sub-agent's family would otherwise come back to life once its parent's token
 * expired). Each family is found through the GIN index on `delegated_from` (migration 0010).
 * Revocations another transaction is forgetting are skipped, so that two instances never wait on
 * each other for it. Resolves to how many were forgotten.
 */
export async function deleteExpiredRevocations(db: Db, now: Date, limit = 1_000): Promise<number> {
  const result = await sql`
    with expired as (select jti from revoked_tokens where expires_at < ${pastOnEveryClock(now)} limit ${limit} for update skip locked),
    ended as (
      update refresh_tokens r set revoked_at = ${now} from expired e
      where r.revoked_at is null and r.delegated_from <> '[]' and r.delegated_from @> jsonb_build_array(jsonb_build_object('jti', e.jti))
    )
    delete from revoked_tokens where jti in (select jti from expired)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
