import { sql } from 'kysely';
import { auditInTransaction, SYSTEM_ACTOR } from '../audit/audit.service.js';
import { OPERATOR_SCOPES } from '../authz/principal.js';
import type { Db } from '../db/connect.js';
import { newId } from '../shared/ids.js';
import { secretMatches, generateClientSecret, hashClientSecret } from './agent-credentials.js';
import { expireAgentSecrets, findClientCredentials, insertAgentSecret, makeAgentSecretCurrent, notifyAgentsChanged } from './agent-secret.queries.js';
import { findAgentForUpdate, insertAgent, makeOperatorClient, operatorClientExists } from './agent.queries.js';

/** Credentials of an operator client made on first start: to be shown once, then never again. */
export interface BootstrapCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

const NAME = 'Operator console';

/**
 * Makes sure the hub has an operator client, holding every operator scope:
 * - with HUB_BOOTSTRAP_CLIENT_ID/_SECRET, that client exists with that secret (a different secret
 *   replaces the stored ones at once) and every operator scope (those it lacked are added and
 *   audited as `agent.scopes_added`); its status is left as it is, so a restart never lifts a
 *   suspension; an id naming any other agent fails the start;
 * - without them, on a database that never had an operator client, one is created and its
 *   credentials returned, for the caller to show once.
 * Instances starting together take turns on an advisory lock, so at most one client is created.
 */
export async function ensureBootstrapClient(db: Db, configured: { id: string; secret: string } | undefined, now: Date): Promise<BootstrapCredentials | undefined> {
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext('hub.bootstrap-client'))`.execute(tx);
    if (configured) {
      await ensureConfiguredClient(tx, configured, now);
      return undefined;
    }
    if (await operatorClientExists(tx)) return undefined;
    const credentials = { clientId: newId('agt'), clientSecret: generateClientSecret() };
    await createOperatorClient(tx, credentials.clientId, credentials.clientSecret, now);
    return credentials;
  });
}

async function createOperatorClient(tx: Db, id: string, secret: string, now: Date): Promise<void> {
  await insertAgent(tx, {
    id,
    name: NAME,
    kind: 'service',
    description: 'Created by the hub for its operators; holds every operator scope.',
    allowedScopes: OPERATOR_SCOPES,
    ownerUserId: null,
    parentAgentId: null,
    isOperator: true,
    expiresAt: null,
    now,
  });
  await insertAgentSecret(tx, id, hashClientSecret(secret), now);
  await auditInTransaction(tx, { action: 'agent.registered', actor: SYSTEM_ACTOR, decision: 'ALLOW', reason: 'bootstrap operator client', detail: { agentId: id } }, now);
}

async function ensureConfiguredClient(tx: Db, configured: { id: string; secret: string }, now: Date): Promise<void> {
  const existing = await findAgentForUpdate(tx, configured.id);
  if (!existing) return createOperatorClient(tx, configured.id, configured.secret, now);
  // Only an operator client is made one again: any other agent would be lifted to every operator
  // scope, above its owner, its parent or what the customers who consented to it were shown.
  if (!existing.isOperator) throw new Error(`HUB_BOOTSTRAP_CLIENT_ID names ${existing.id}, an agent that is not an operator client: choose an id no agent has`);
  const missing = OPERATOR_SCOPES.filter((scope) => !existing.allowedScopes.includes(scope));
  // Operator scopes a newer release added: a client's ceiling only grows on the record.
  if (missing.length > 0) {
    await makeOperatorClient(tx, existing.id, [...existing.allowedScopes, ...missing]);
    await auditInTransaction(tx, { action: 'agent.scopes_added', actor: SYSTEM_ACTOR, decision: 'ALLOW', reason: 'operator scopes of this release', detail: { agentId: existing.id, scopes: missing } }, now);
  }
  const current = await findClientCredentials(tx, existing.id, now);
  // Only the secret valid with no end counts as the one configured: a secret rotated out through
  // the API and still in its grace period matches now, yet would stop when that period ends.
  if (!secretMatches(current?.secrets.filter((s) => s.expiresAt === null).map((s) => s.hash) ?? [], configured.secret)) {
    // The configured secret may be one the client had before (a configuration set back, or a
    // secret rotated through the API since, in a grace period or not): it is made valid again,
    // with no end, never left expired.
    await expireAgentSecrets(tx, existing.id, now);
    await makeAgentSecretCurrent(tx, existing.id, hashClientSecret(configured.secret), now);
    await auditInTransaction(tx, { action: 'agent.secret_rotated', actor: SYSTEM_ACTOR, decision: 'ALLOW', reason: 'HUB_BOOTSTRAP_CLIENT_SECRET changed', detail: { agentId: existing.id } }, now);
  }
  await notifyAgentsChanged(tx);
}
