import { NotifiedCache } from '../db/notified-cache.js';
import type { Listen } from '../db/notifications.js';
import { AGENTS_CHANNEL, type SecretHash } from './agent-secret.queries.js';
import type { Agent } from './agent.queries.js';

/** What client authentication needs of an agent: itself, its secrets and its ancestors. */
export interface ClientRecord {
  readonly agent: Agent;
  readonly secrets: readonly SecretHash[];
  readonly ancestors: readonly Agent[];
}

/**
 * Client records by agent id, so that the token endpoint does not read the agents table on every
 * request. Cleared by `NOTIFY hub_agents` on every change to an agent (status, secrets, scopes),
 * as NotifiedCache describes; everything is cleared, since agent changes are rare and a parent's
 * change reaches its sub-agents' records too.
 * Times (expiry of the agent, its ancestors, its secrets) are never cached as answers: they are
 * compared with the clock at each use. Until a notification reaches another instance
 * (milliseconds, at most about 4 s) it may still authenticate the client as it was.
 * After a suspension, decommissioning or expiry, a token it issues then is refused at every use
 * all the same, since presented tokens are checked against the agent's status in the database on
 * every request. After a secret rotation it is not: the secret a token was obtained with is
 * checked only here, so a token got with a rotated-out secret within that window stays valid for
 * its lifetime (HUB_ACCESS_TOKEN_TTL at most).
 */
export class AgentCache extends NotifiedCache<ClientRecord> {
  constructor(listen?: Listen) {
    super(AGENTS_CHANNEL, listen, { max: 10_000, ttlMs: 60_000 });
  }
}
