import type { AgentService } from '../agents/agent.service.js';
import { auditCaller, auditInTransaction, SYSTEM_ACTOR, type AuditEventInput } from '../audit/audit.service.js';
import type { PrincipalAuditFields } from '../audit/audit.actions.js';
import type { Db } from '../db/connect.js';
import type { Caller } from '../identity/identity.service.js';
import type { SigningKey } from '../oauth/key-store.js';
import { enqueueWebhookEvent, type WebhookEvent } from '../webhooks/webhook-outbox.js';
import { insertConsentEvents, markConsentsLapsed, markConsentsWithdrawn, type Consent, type ConsentEvent } from './consent.queries.js';
import { findConsentedPurposes } from './purposes.js';
import { receiptClaims, signReceipt, type ReceiptController } from './receipt.js';

// How consents end: withdrawn by someone, or found lapsed at their expiry, each with its ledger
// event, its receipt, its audit record and its webhook, in the transaction that ends them.

/** Consents withdrawn per round of statements (`withdrawInTransaction`). */
const WITHDRAW_BATCH = 1_000;

/** Who a withdrawal of this consent is recorded as done by: the actor fields of its events. */
export type WithdrawnBy = (consent: Consent) => PrincipalAuditFields & { readonly requestId: string | null };

/** Every withdrawal recorded as the caller's. */
export const byCaller =
  (caller: Caller): WithdrawnBy =>
  () =>
    auditCaller(caller.principal, caller.requestId);

/**
 * Who a consent's user sees withdrawing it because its agent was decommissioned: the caller when
 * it is that user, or an operator client (the company's, named in a user's trail wherever it acts
 * on their data); anyone else as the hub (`system`), since the withdrawal follows from a change to
 * someone else's agent and the caller would be its owner, whom `Agent.owner` hides from the
 * consenting user (or, for an erasure, the erased person). The `agent.decommissioned` event, in
 * the owner's trail, still names the caller; the request id stays, to tie the two together.
 */
export function decommissionedBy(caller: Caller): WithdrawnBy {
  const { principal, requestId } = caller;
  const named = auditCaller(principal, requestId);
  const hub = { actor: SYSTEM_ACTOR, actorChain: [], clientId: null, purpose: null, consentId: null, requestId } as const;
  return (consent) => (principal.kind === 'client' || (principal.kind === 'user' && principal.userId === consent.userId) ? named : hub);
}

/** What ending consents needs of the hub's services. */
export interface WithdrawalDeps {
  readonly agents: Pick<AgentService, 'findAgents'>;
  /** Revokes every refresh token issued under these consents. */
  revokeRefreshTokensOfConsents(tx: Db, consentIds: readonly string[], now: Date): Promise<void>;
  /** The key receipts are signed with, and the controller and issuer they name. */
  readonly receipts: ReceiptController & { signingKey(): SigningKey };
}

/**
 * What consent changes of one transaction leave besides the consents themselves: their ledger
 * events, audit events and webhooks, gathered and then written together, one statement of each
 * (three for the audit) however many changes. Giving a consent that supersedes another records
 * both changes with these, not each its own: every statement of its transaction is a round trip
 * made while the user's consent lock is held, which their next change waits for.
 */
export class ConsentRecords {
  readonly events: ConsentEvent[] = [];
  readonly audits: AuditEventInput[] = [];
  readonly webhooks: WebhookEvent[] = [];

  /** Writes what was gathered, in the order it was, and forgets it. */
  async write(tx: Db, now: Date): Promise<void> {
    const [events, audits, webhooks] = [this.events.splice(0), this.audits.splice(0), this.webhooks.splice(0)];
    await insertConsentEvents(tx, events, now);
    if (audits.length > 0) await auditInTransaction(tx, audits, now);
    await enqueueWebhookEvent(tx, webhooks, now);
  }
}

/** `withdrawInTransaction` bound to the services it needs. */
export function createWithdrawal(deps: WithdrawalDeps) {
  /**
   * The signed receipt of each withdrawal, by consent id, issued at its `withdrawnAt`: the consent
   * as withdrawn, by whom and why (as its ledger event records them), under the purpose version
   * it was given under (the newest for a version the registry no longer holds), naming its
   * agent's chain as its first receipt does. At most three queries however many consents; no
   * receipt for one whose purpose the registry does not hold: its withdrawal stands.
   */
  async function signWithdrawalReceipts(tx: Db, withdrawn: readonly Consent[], by: WithdrawnBy, reason: string): Promise<Map<string, string>> {
    const purposes = await findConsentedPurposes(tx, withdrawn);
    const agentIds = new Set(withdrawn.flatMap((c) => (c.agentId ? [c.agentId] : [])));
    const agents = new Map((await deps.agents.findAgents(tx, [...agentIds])).map((a) => [a.id, a]));
    const key = deps.receipts.signingKey();
    const signed = await Promise.all(
      withdrawn.map(async (c, i): Promise<[string, string][]> => {
        const purpose = purposes[i];
        if (!purpose) return [];
        const agent = c.agentId ? { id: c.agentId, chain: [c.agentId, ...(agents.get(c.agentId)?.ancestorIds ?? [])] } : null;
        return [[c.id, await signReceipt(key, receiptClaims(c, purpose, deps.receipts, agent, { by: by(c).actor, reason }), deps.receipts.issuer, c.withdrawnAt!)]];
      }),
    );
    return new Map(signed.flat());
  }

  /**
   * Withdraws these consents, their refresh tokens with them, recording why, each with a signed
   * receipt of its withdrawal. In rounds of WITHDRAW_BATCH, so that every statement stays within
   * PostgreSQL's 65,535 parameters however many consents there are (an agent that thousands of
   * people consented to is decommissioned in one transaction). With `records`, the ledger events,
   * audit events and webhooks are left in it for the caller to write (one batch's worth at most);
   * without, each round writes its own.
   */
  async function withdrawInTransaction(tx: Db, consents: readonly Consent[], by: WithdrawnBy, reason: string, now: Date, records?: ConsentRecords): Promise<Consent[]> {
    if (records && consents.length > WITHDRAW_BATCH) throw new TypeError(`records gather the changes of at most ${WITHDRAW_BATCH} consents`);
    const withdrawn: Consent[] = [];
    for (let i = 0; i < consents.length; i += WITHDRAW_BATCH) {
      const batch = records ?? new ConsentRecords();
      withdrawn.push(...(await withdrawBatch(tx, consents.slice(i, i + WITHDRAW_BATCH), by, reason, now, batch)));
      if (!records) await batch.write(tx, now);
    }
    return withdrawn;
  }

  async function withdrawBatch(tx: Db, consents: readonly Consent[], by: WithdrawnBy, reason: string, now: Date, records: ConsentRecords): Promise<Consent[]> {
    // A consent past its expiry lapsed then, and was never withdrawn: the ledger records its
    // lapse, at its expiry, and the trail `consent.expired` by the hub, under the request that
    // found it; no receipt or event says that anyone withdrew it. Only consents with an expiry
    // passed at `now` can have lapsed (an expiry never changes): for none, no statement.
    const expired = consents.filter((c) => c.expiresAt !== null && c.expiresAt <= now);
    const lapsed = await markConsentsLapsed(tx, expired.map((c) => c.id), now);
    if (lapsed.length > 0) {
      records.events.push(...lapsed.map((c) => ({ consentId: c.id, userId: c.userId, kind: 'expired' as const, actor: SYSTEM_ACTOR, occurredAt: c.expiresAt! })));
      await deps.revokeRefreshTokensOfConsents(tx, lapsed.map((c) => c.id), now);
      const lapse = (c: Consent) => ({ actor: SYSTEM_ACTOR, requestId: by(c).requestId });
      records.audits.push(...lapsed.map((c) => auditOf('consent.expired', c, lapse(c), { expiredAt: c.expiresAt!.toISOString() })));
    }
    const withdrawn = await markConsentsWithdrawn(tx, consents.map((c) => c.id), now);
    if (withdrawn.length === 0) return [];
    const receipts = await signWithdrawalReceipts(tx, withdrawn, by, reason);
    records.events.push(
      ...withdrawn.map((c) => ({ consentId: c.id, userId: c.userId, kind: 'withdrawn' as const, actor: by(c).actor, detail: { reason }, receipt: receipts.get(c.id) ?? null, occurredAt: c.withdrawnAt! })),
    );
    await deps.revokeRefreshTokensOfConsents(tx, withdrawn.map((c) => c.id), now);
    records.audits.push(...withdrawn.map((c) => auditOf('consent.withdrawn', c, by(c), { reason })));
    records.webhooks.push(...withdrawn.map((c) => ({ type: 'consent.withdrawn' as const, data: { consentId: c.id, userId: c.userId, purpose: c.purpose, agentId: c.agentId } })));
    return withdrawn;
  }

  return withdrawInTransaction;
}

/** An audit event about this consent, by `by`, with `detail`. */
export function auditOf(action: 'consent.given' | 'consent.withdrawn' | 'consent.expired', consent: Consent, by: Pick<AuditEventInput, 'actor' | 'requestId'> & Partial<AuditEventInput>, detail: Record<string, unknown>): AuditEventInput {
  return {
    action,
    ...by,
    subjectUserId: consent.userId,
    purpose: consent.purpose,
    consentId: consent.id,
    decision: 'ALLOW',
    detail,
  };
}
