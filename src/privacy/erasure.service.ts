import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import type { AgentService } from '../agents/agent.service.js';
import type { ConsentService } from '../consent/consent.service.js';
import type { Db } from '../db/connect.js';
import type { Caller, IdentityService } from '../identity/identity.service.js';
import type { Clock } from '../shared/clock.js';
import { BadUserInputError, NotFoundError } from '../shared/errors.js';
import { isId } from '../shared/ids.js';
import {
  countAudienceMemberships,
  deleteApprovalsOfUser,
  deletePaymentMethodsOfUser,
  deleteRefreshTokensOfUser,
  lockUserForErasure,
  revokeLiveRefreshTokensOfUser,
  scrubAgentsOwnedBy,
  scrubUser,
} from './erasure.queries.js';

/** What an erasure did (API.md `ErasureResult`). */
export interface ErasureResult {
  readonly userId: string;
  /** When the person was erased: now, or the first erasure's time when `alreadyErased`. */
  readonly erasedAt: Date;
  /**
   * The user had been erased before: every count is 0 but `consentsWithdrawn`, which counts the
   * consents still active (given while the first erasure ran, before giving re-checked the user)
   * that this call withdrew.
   */
  readonly alreadyErased: boolean;
  readonly consentsWithdrawn: number;
  /** Agents the person owned, decommissioned: they act for nobody now. */
  readonly agentsDecommissioned: number;
  /** Refresh tokens still usable that were revoked. Access tokens are not counted (the hub keeps no list of them): every one of the user's fails from the next request on. */
  readonly refreshTokensRevoked: number;
  readonly paymentMethodsDeleted: number;
  readonly audienceMembershipsRemoved: number;
  /** The person's approvals of payment actions, deleted whatever their state (see `erase`). */
  readonly approvalsDeleted: number;
}

/** Why the consents of an erased person were withdrawn, as the ledger records it. */
export const ERASURE_REASON = 'user erased';

export interface ErasureDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly consents: Pick<ConsentService, 'lockConsentsOfUser' | 'withdrawAllForUser'>;
  readonly agents: Pick<AgentService, 'lockAgentsOfUser' | 'decommissionOwnedBy'>;
  readonly identity: Pick<IdentityService, 'forgetSignInCounts'>;
  /**
   * Runs last inside the erasure's transaction, with its result: where the `user.erased` webhook
   * event is put in the outbox, so it exists exactly when the erasure committed. Throwing rolls
   * the whole erasure back.
   */
  readonly onErased?: (trx: Db, result: ErasureResult) => Promise<void>;
}

export type ErasureService = ReturnType<typeof createErasureService>;

/** Erasure of a person (GDPR Art. 17); who may ask is decided in src/authz. */
export function createErasureService(deps: ErasureDeps) {
  return {
    /**
     * Erases the person in one transaction: their consents are withdrawn (ledger events,
     * receipts kept), the agents they own decommissioned and stripped of the names and
     * descriptions the person gave them, their refresh tokens revoked and deleted, their approvals of
     * payment actions and their payment methods deleted, every column of their profile blanked
     * and their status set to `erased`, which makes every access token of theirs (their own and
     * every agent's delegated one) fail on the next request on every instance and drops them
     * from every audience. The ledger, the audit trail and their orders (the books the law
     * requires) are kept under the `usr_` id, which no longer leads to the person: none of those
     * rows holds more than that id, and the HMACs the audit trail keeps of their payment entries
     * mean nothing once their key, blanked with the profile, is gone (crypto-shredding). Audited
     * as `user.erased`. Erasing an erased user is idempotent: `alreadyErased`, the first
     * erasure's time, nothing changed but the withdrawal of any consent still active.
     * @throws BadUserInputError for an id that is not a user id, NotFoundError for an unknown user.
     */
    async erase(userId: string, caller: Caller): Promise<ErasureResult> {
      if (!isId('usr', userId)) throw new BadUserInputError('id', 'is not a user id');
      return deps.db.transaction().execute(async (trx) => {
        const user = await lockUserForErasure(trx, userId);
        if (!user) throw new NotFoundError('User');
        const none = { consentsWithdrawn: 0, agentsDecommissioned: 0, refreshTokensRevoked: 0, paymentMethodsDeleted: 0, audienceMembershipsRemoved: 0, approvalsDeleted: 0 };
        if (user.status === 'erased') {
          // A consent given while the first erasure ran, before giving re-checked the user, would
          // stay in force: withdrawn here, taking the locks in the order below.
          await deps.consents.lockConsentsOfUser(trx, userId);
          await deps.agents.lockAgentsOfUser(trx, userId);
          const consentsWithdrawn = await deps.consents.withdrawAllForUser(trx, userId, caller, ERASURE_REASON, deps.clock.now());
          return { userId, erasedAt: user.updated_at, alreadyErased: true, ...none, consentsWithdrawn };
        }

        // Lock order: the user's row, which asking for an approval takes first too; the user's
        // consent lock, before any agent, as giving a consent takes it; the agents, ancestors
        // first; only then consent rows, refresh tokens and audit chains, which decommissioning
        // also takes after its agents. Taken the other way round, an erasure and a
        // decommissioning of an agent acting for this person, or an agent asking them for an
        // approval, deadlock.
        await deps.consents.lockConsentsOfUser(trx, userId);
        // Approvals are deleted, not kept in part: each is the working state of one step-up
        // check, and its entry holds the card, the payee and the person's own payment reference.
        // Nothing the books need is lost: the audit chain, which is kept, records each approval
        // asked for, answered and used (who, when, under which consent, the action and an HMAC of
        // the entry under the person's key, which `scrubUser` deletes); the payment itself is
        // booked by the commerce API that took its payment token, and the person's orders stay.
        // No row refers to an approval. Deleted, none can be answered or used after the erasure.
        const approvalsDeleted = await deleteApprovalsOfUser(trx, userId);
        await deps.agents.lockAgentsOfUser(trx, userId);
        const now = deps.clock.now();
        const audienceMembershipsRemoved = await countAudienceMemberships(trx, userId, now);
        const refreshTokensRevoked = await revokeLiveRefreshTokensOfUser(trx, userId, now);
        const consentsWithdrawn = await deps.consents.withdrawAllForUser(trx, userId, caller, ERASURE_REASON, now);
        const agentsDecommissioned = await deps.agents.decommissionOwnedBy(trx, userId, caller, now);
        await scrubAgentsOwnedBy(trx, userId);
        const paymentMethodsDeleted = await deletePaymentMethodsOfUser(trx, userId);
        await deleteRefreshTokensOfUser(trx, userId);
        await scrubUser(trx, userId, now);
        if (user.email) await deps.identity.forgetSignInCounts(trx, user.email);
        const counts = { consentsWithdrawn, agentsDecommissioned, refreshTokensRevoked, paymentMethodsDeleted, audienceMembershipsRemoved, approvalsDeleted };
        // The audit detail drops keys that name a token (scrubDetail), so that count goes by another name.
        const detail = { consentsWithdrawn, agentsDecommissioned, refreshesRevoked: refreshTokensRevoked, paymentMethodsDeleted, audienceMembershipsRemoved, approvalsDeleted };
        await auditInTransaction(trx, { action: 'user.erased', ...auditCaller(caller.principal, caller.requestId), subjectUserId: userId, decision: 'ALLOW', detail }, now);
        const result: ErasureResult = { userId, erasedAt: now, alreadyErased: false, ...counts };
        await deps.onErased?.(trx, result);
        return result;
      });
    },
  };
}
