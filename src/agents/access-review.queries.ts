import { sql, type Selectable } from 'kysely';
import type { AgentsTable } from '../db/database.js';
import type { Db } from '../db/connect.js';
import { toAgent, type Agent } from './agent.queries.js';

/** What an access review knows of one agent: the agent, and what it did and holds. */
export interface AgentFacts {
  readonly agent: Agent;
  /** The latest of its last client authentication and its last audited read or change in the window. */
  readonly lastActiveAt: Date | null;
  /**
   * Profile fields it read in the window, itself or anywhere in an acting chain, and as a client
   * the audience member fields it was shown or selected on (`audience.queried`, `audience.exported`)
   * and the fields of the people it exported (`data.exported`).
   */
  readonly fieldsRead: readonly string[];
  /** Profile fields it changed in the window, acting for a user (`paymentMethods` for a payment action). */
  readonly fieldsWritten: readonly string[];
  /** Consents naming it that are in force now. */
  readonly liveConsents: number;
  /** Every scope those consents grant. */
  readonly consentScopes: readonly string[];
  /** When its oldest client secret still valid now was made; null when none is. */
  readonly oldestSecretAt: Date | null;
  /** The status of the user who owns it; null for an agent no user owns. */
  readonly ownerStatus: 'active' | 'suspended' | 'erased' | null;
}

type FactsRow = Selectable<AgentsTable> & {
  last_active_at: Date | null;
  fields_read: string[];
  fields_written: string[];
  live_consents: number;
  consent_scopes: string[];
  oldest_secret_at: Date | null;
  owner_status: 'active' | 'suspended' | 'erased' | null;
};

/**
 * The facts of the first `limit` agents in creation order (in no particular order) that are not
 * decommissioned, that consents in force still name, or that are an ancestor of one not
 * decommissioned (from before decommissioning took the descendants along), in one statement: a
 * decommissioned agent is past reviewing, and agents registered and decommissioned by the
 * thousand must not push the newest agents, and their findings, out of the register. Each source
 * is aggregated once for all agents (no per-agent query):
 * - reads: the window's `profile.read` events by agents, its `audience.queried` and
 *   `audience.exported` events by clients (a member field is shown, and a filter selects on one,
 *   only where the client's own data scopes cover it), and its `data.exported` events by clients
 *   (an operator's export of a person reads every field it names), from the partial index
 *   `audit_events_agent_reads` pruned to the window's partitions: the condition repeats the
 *   index's predicate as it stands, so the scan needs no column the index lacks. First grouped by
 *   actor and fields-read list, so the lists are unnested once per distinct combination rather
 *   than once per event, then credited to the client acting as itself or to every agent of the chain;
 * - changes: the window's `profile.updated` events made by agents acting for a user, and their
 *   payment actions (`approval.requested`, `approval.used`), each a write of `paymentMethods`:
 *   asking for an approval and using one both need payment write, and change no profile field;
 * - consents in force, counted and their scopes gathered per agent;
 * - client secrets still valid, the oldest per agent;
 * - the status of its owner, by primary key.
 * A parent is always registered before its sub-agents, so the first `limit` agents hold every
 * ancestor of each.
 */
export async function findAgentFacts(db: Db, window: { since: Date; now: Date }, limit: number): Promise<AgentFacts[]> {
  return db.isTransaction ? readFacts(db, window, limit) : db.transaction().execute((tx) => readFacts(tx, window, limit));
}

/** Hash tables of a few MB per aggregate: more than the default work_mem, for this one statement only. */
const WORK_MEM = '64MB';

async function readFacts(db: Db, { since, now }: { since: Date; now: Date }, limit: number): Promise<AgentFacts[]> {
  await sql`select set_config('work_mem', ${WORK_MEM}, true)`.execute(db);
  const { rows } = await sql<FactsRow>`
    with seen as (
      select e.actor_kind, e.actor_id, e.actor_chain, e.fields_read, max(e.occurred_at) as last_at
      from audit_events e
      where (e.action = 'profile.read' and e.actor_kind in ('client', 'delegated')
          or e.action in ('audience.queried', 'audience.exported', 'data.exported') and e.actor_kind = 'client')
        and e.occurred_at >= ${since} and e.occurred_at <= ${now}
      group by e.actor_kind, e.actor_id, e.actor_chain, e.fields_read
    ),
    read_fields as (
      select actor.agent_id, f.field, max(s.last_at) as last_at
      from seen s
      cross join lateral unnest(case when s.actor_kind = 'client' then array[s.actor_id] else s.actor_chain end) as actor(agent_id)
      left join lateral unnest(s.fields_read) as f(field) on true
      group by actor.agent_id, f.field
    ),
    reads as (
      select agent_id, max(last_at) as last_at, coalesce(array_agg(field order by field) filter (where field is not null), '{}') as fields
      from read_fields group by agent_id
    ),
    changed_fields as (
      select actor.agent_id, f.field, max(e.occurred_at) as last_at
      from audit_events e
      cross join lateral unnest(e.actor_chain) as actor(agent_id)
      left join lateral jsonb_array_elements_text(case
          when e.action <> 'profile.updated' then '["paymentMethods"]'::jsonb
          when jsonb_typeof(e.detail -> 'fields') = 'array' then e.detail -> 'fields'
          else '[]'::jsonb end) as f(field) on true
      where e.action in ('profile.updated', 'approval.requested', 'approval.used') and e.actor_kind = 'delegated'
        and e.occurred_at >= ${since} and e.occurred_at <= ${now}
      group by actor.agent_id, f.field
    ),
    changes as (
      select agent_id, max(last_at) as last_at, coalesce(array_agg(field order by field) filter (where field is not null), '{}') as fields
      from changed_fields group by agent_id
    ),
    live as (
      select agent_id, scopes from consents
      where agent_id is not null and status = 'active' and (expires_at is null or expires_at > ${now})
    ),
    counted as (
      select agent_id, count(*)::int as live_consents from live group by agent_id
    ),
    granted_scopes as (
      select l.agent_id, s.scope from live l cross join lateral unnest(l.scopes) as s(scope) group by l.agent_id, s.scope
    ),
    granted as (
      select agent_id, array_agg(scope order by scope) as scopes from granted_scopes group by agent_id
    ),
    secrets as (
      select agent_id, min(created_at) as oldest from agent_secrets
      where expires_at is null or expires_at > ${now}
      group by agent_id
    )
    select a.*,
      greatest(a.last_used_at, r.last_at, w.last_at) as last_active_at,
      coalesce(r.fields, '{}') as fields_read,
      coalesce(w.fields, '{}') as fields_written,
      coalesce(c.live_consents, 0) as live_consents,
      coalesce(g.scopes, '{}') as consent_scopes,
      s.oldest as oldest_secret_at,
      (select u.status from users u where u.id = a.owner_user_id) as owner_status
    from (
      select * from agents
      where status <> 'decommissioned' or id in (select agent_id from counted)
        or id in (select unnest(ancestor_ids) from agents where status <> 'decommissioned')
      order by created_at, id limit ${limit}
    ) a
    left join reads r on r.agent_id = a.id
    left join changes w on w.agent_id = a.id
    left join counted c on c.agent_id = a.id
    left join granted g on g.agent_id = a.id
    left join secrets s on s.agent_id = a.id
  `.execute(db);
  return rows.map(toFacts);
}

function toFacts(row: FactsRow): AgentFacts {
  const { last_active_at, fields_read, fields_written, live_consents, consent_scopes, oldest_secret_at, owner_status, ...agent } = row;
  return {
    agent: toAgent(agent),
    lastActiveAt: last_active_at,
    fieldsRead: fields_read,
    fieldsWritten: fields_written,
    liveConsents: live_consents,
    consentScopes: consent_scopes,
    oldestSecretAt: oldest_secret_at,
    ownerStatus: owner_status,
  };
}
