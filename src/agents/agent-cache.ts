import { LRUCache } from 'lru-cache';
import type { Listen } from '../db/notifications.js';
import type { SecretHash } from './agent-secret.queries.js';
import type { Agent } from './agent.queries.js';

/** What client authentication needs of an agent: itself, its secrets and its ancestors. */
export interface ClientRecord {
  readonly agent: Agent;
  readonly secrets: readonly SecretHash[];
  readonly ancestors: readonly Agent[];
}

/** A backstop: an entry is reread at least this often even if a notification were missed. */
const TTL_MS = 60_000;

/**
 * Client records by agent id, so that the token endpoint does not read the agents table on every
 * request. Correct only while notifications arrive, so it is used only while they do:
 * - every change to an agent (status, secrets, scopes) sends `NOTIFY hub_agents` in its
 *   transaction, and the instance that made it also clears its own cache right after commit;
 * - every instance LISTENs (see notifications.ts) and clears everything on a notification (agent
 *   changes are rare; a parent's change reaches its sub-agents' records too);
 * - while not listening (starting, connection lost, or silent past its heartbeat: within about
 *   4 s) nothing is cached and every lookup reads;
 * - a read that started before a clear is not stored after it (the epoch check).
 * Times (expiry of the agent, its ancestors, its secrets) are never cached as answers: they are
 * compared with the clock at each use. Another instance stops using a changed record as soon as
 * the notification reaches it: milliseconds, and at most the heartbeat's 4 s on a LISTEN
 * connection that died silently. Meanwhile it may still authenticate the client as it was.
 * After a suspension, decommissioning or expiry, a token it issues then is refused at every use
 * all the same, since presented tokens are checked against the agent's status in the database on
 * every request. After a secret rotation it is not: the secret a token was obtained with is
 * checked only here, so a token got with a rotated-out secret within that window stays valid for
 * its lifetime (HUB_ACCESS_TOKEN_TTL at most).
 */
export class AgentCache {
  readonly #entries = new LRUCache<string, ClientRecord>({ max: 10_000, ttl: TTL_MS });
  #epoch = 0;
  #listening = false;

  /** Starts listening; without `listen` the cache stays off and every lookup reads. */
  constructor(listen?: Listen) {
    listen?.('hub_agents', {
      onMessage: () => this.clear(),
      onState: (listening) => {
        this.clear();
        this.#listening = listening;
      },
    });
  }

  /** Drops every record; call it after committing any change to an agent. */
  clear(): void {
    this.#epoch++;
    this.#entries.clear();
  }

  /** The cached record, or `load`'s answer (stored only if nothing changed meanwhile). */
  async get(agentId: string, load: () => Promise<ClientRecord | undefined>): Promise<ClientRecord | undefined> {
    if (this.#listening) {
      const hit = this.#entries.get(agentId);
      if (hit) return hit;
    }
    const epoch = this.#epoch;
    const record = await load();
    if (record && this.#listening && epoch === this.#epoch) this.#entries.set(agentId, record);
    return record;
  }
}
