import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

/** Where a page of an agent's consents starts: after this (givenAt, id), newest first. */
export interface ConsentKey {
  readonly givenAt: Date;
  readonly id: string;
}

/** Which consents naming an agent a page holds, and how many. */
export interface AgentConsentsPage {
  readonly limit: number;
  readonly now: Date;
  readonly after?: ConsentKey;
  /** Only consents this user gave. */
  readonly givenBy?: string;
  /** true: only those in force at `now`; false: only those withdrawn or expired; left out: all. */
  readonly live?: boolean;
}

/**
 * The keys of a page of the consents naming each agent, newest first, in one statement: a
 * lateral join walks the (agent_id, given_at desc, id desc) index once per agent and stops at
 * `limit`. The consents themselves are read through the consent service. Resolves to a list
 * per agent id, in the order given.
 */
export async function findConsentKeysOfAgents(db: Db, agentIds: readonly string[], page: AgentConsentsPage): Promise<ConsentKey[][]> {
  const byAgent = new Map<string, ConsentKey[]>(agentIds.map((id) => [id, []]));
  if (agentIds.length > 0 && page.limit > 0) {
    const inForce = sql`(status = 'active' and (expires_at is null or expires_at > ${page.now}))`;
    const { rows } = await sql<{ agent_id: string; id: string; given_at: Date }>`
      select a.id as agent_id, c.id, c.given_at from unnest(${[...agentIds]}::text[]) as a(id)
      cross join lateral (
        select id, given_at from consents
        where agent_id = a.id
          ${page.givenBy ? sql`and user_id = ${page.givenBy}` : sql``}
          ${page.live === true ? sql`and ${inForce}` : page.live === false ? sql`and not ${inForce}` : sql``}
          ${page.after ? sql`and (given_at, id) < (${page.after.givenAt}, ${page.after.id})` : sql``}
        order by given_at desc, id desc
        limit ${page.limit}
      ) as c
    `.execute(db);
    for (const row of rows) byAgent.get(row.agent_id)?.push({ givenAt: row.given_at, id: row.id });
  }
  return agentIds.map((id) => byAgent.get(id)!);
}
