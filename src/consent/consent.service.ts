import { z } from 'zod';
import type { AgentService } from '../agents/agent.service.js';
import { auditCaller } from '../audit/audit.service.js';
import { actorFromPrincipal } from '../audit/audit.actions.js';
import { decideCompanyConsentGiving } from '../authz/agent-access.js';
import { decideConsentInForce } from '../authz/delegation.js';
import { scopeWithin } from '../authz/scopes.js';
import type { Db } from '../db/connect.js';
import type { Caller, IdentityService } from '../identity/identity.service.js';
import type { Clock } from '../shared/clock.js';
import { BadUserInputError, ForbiddenError, NotFoundError, UnauthenticatedError, type ForbiddenReason } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { parseInput, plainText, storableInstant } from '../shared/input.js';
import {
  findActiveConsentsForUpdate,
  findConsentEvents,
  findConsentForShare,
  findConsentsByIds,
  findConsentsOfUsers,
  findLatestConsentChange,
  insertConsent,
  lockUserConsents,
  type Consent,
} from './consent.queries.js';
import { findPurpose, purposeCovers, type Purpose } from './purposes.js';
import { findLatestPurposes } from './purpose.queries.js';
import { receiptClaims, signReceipt } from './receipt.js';
import { auditOf, byCaller, ConsentRecords, createWithdrawal, decommissionedBy, type WithdrawalDeps } from './withdrawal.js';

export { toConsent, type Consent } from './consent.queries.js';

/** What a consent is now: withdrawn, past its expiry, or in force. */
export function consentState(consent: Pick<Consent, 'status' | 'expiresAt'>, now: Date): 'ACTIVE' | 'WITHDRAWN' | 'EXPIRED' {
  if (consent.status === 'withdrawn') return 'WITHDRAWN';
  if (consent.status === 'expired' || (consent.expiresAt !== null && consent.expiresAt <= now)) return 'EXPIRED';
  return 'ACTIVE';
}

const giveConsentSchema = z.object({
  purpose: z.string().max(64),
  // Empty names no agent: it must not pass for a consent to the company.
  agentId: z.string().min(1, 'is not an active agent').max(128).nullish(),
  scopes: z.array(z.string().max(128)).max(64, 'must list at most 64 scopes').nullish(),
  expiresAt: storableInstant().nullish(),
  collectionMethod: plainText(64).nullish(),
  policyVersion: z.string().max(64).nullish(),
});

/** How a consent given through the API by the user themself was collected. */
const SELF_SERVICE = 'self_service';

export type ConsentService = ReturnType<typeof createConsentService>;

/** Why a delegated grant is refused whose consent ended since the request's token check. */
const CONSENT_ENDED: Partial<Record<ForbiddenReason, string>> = {
  NO_CONSENT: 'The consent this token was issued under no longer exists',
  CONSENT_WITHDRAWN: 'The consent this token was issued under was withdrawn',
  CONSENT_EXPIRED: 'The consent this token was issued under has expired',
};

/** The refusal of what stands on a consent that ended (`reason`) since the request's token check. */
export const consentEnded = (reason: ForbiddenReason) => new ForbiddenError(reason, CONSENT_ENDED[reason]);

/** The consent ledger: consents given and withdrawn, each change an event and an audit record. */
export function createConsentService(
  deps: WithdrawalDeps & {
    db: Db;
    clock: Clock;
    agents: Pick<AgentService, 'findActiveAgentForShare' | 'findAgents'>;
    identity: Pick<IdentityService, 'findActiveUser' | 'isActiveForShare'>;
  },
) {
  const { db, clock } = deps;
  const withdrawInTransaction = createWithdrawal(deps);

  return {
    /**
     * A consent of the calling user: to the company for a purpose (all of it: no scopes), or to
     * one agent for a purpose and scopes that lie within the purpose and the agent's ceiling. It
     * replaces the user's live consent for the same purpose and grantee, if any (whose tokens then
     * stop).
     * @throws BadUserInputError naming the bad field; UnauthenticatedError when the user was
     *   erased or suspended since the token check.
     */
    async give(userId: string, input: unknown, caller: Caller): Promise<Consent> {
      const parsed = parseInput(giveConsentSchema, input);
      const scopes = [...new Set(parsed.scopes ?? [])];
      const agentId = parsed.agentId ?? null;
      return db.transaction().execute(async (tx) => {
        await lockUserConsents(tx, userId);
        // Timed and checked after the lock, so that the consent this one supersedes was given
        // before it, whichever of two concurrent requests came first; and never before the user's
        // latest consent given or withdrawn, which an instance whose clock is ahead may have
        // recorded (CLOCK_SKEW_MS).
        const [latest, clockNow] = [await findLatestConsentChange(tx, userId), clock.now()];
        const now = latest && latest > clockNow ? latest : clockNow;
        const purpose = await findPurpose(tx, parsed.purpose);
        if (!purpose) throw new BadUserInputError('input.purpose', 'is not a known purpose');
        // Consent is to the notice the person read (GDPR Art. 7): not to a version defined since.
        if (parsed.policyVersion != null && parsed.policyVersion !== purpose.version) {
          throw new BadUserInputError('input.policyVersion', `is not the version of ${purpose.key} in force (${purpose.version}): show its notice again`);
        }
        if (parsed.expiresAt && parsed.expiresAt <= now) throw new BadUserInputError('input.expiresAt', 'must be in the future');
        // A consent to the company is for its whole purpose: nothing would honour narrower scopes.
        if (!agentId && scopes.length > 0) throw new BadUserInputError('input.scopes', 'narrow only a consent to an agent: a consent to the company covers its purpose');
        if (!agentId && !decideCompanyConsentGiving(caller.principal, purpose.dataCategories).allowed) {
          throw new ForbiddenError('MISSING_SCOPE', `A consent to the company for ${purpose.key} covers ${purpose.dataCategories.join(', ')}: this token does not read them all`);
        }
        const outside = scopes.find((scope) => !purposeCovers(purpose, scope));
        if (outside !== undefined) throw new BadUserInputError('input.scopes', `${outside.slice(0, 64)} is not a data scope the purpose ${purpose.key} covers`);
        // Read after the lock an erasure also takes: a consent given after it would outlive it.
        if (!(await deps.identity.findActiveUser(tx, userId))) throw new UnauthenticatedError('The user is no longer active');
        // Checked with the agent's lineage locked (after the user's consents, as erasure takes
        // them): decommissioning any of it either waits for this consent and withdraws it, or
        // commits first and the agent is seen inactive here.
        let chain: readonly string[] = [];
        if (agentId) {
          const agent = await deps.agents.findActiveAgentForShare(tx, agentId, now);
          if (!agent) throw new BadUserInputError('input.agentId', 'is not an active agent');
          if (scopes.length === 0) throw new BadUserInputError('input.scopes', 'must name at least one scope for an agent');
          const ceiling = new Set(agent.allowedScopes);
          const beyond = scopes.find((scope) => !scopeWithin(scope, ceiling));
          if (beyond) throw new BadUserInputError('input.scopes', `${beyond} is beyond what the agent may ever be granted`);
          chain = [agent.id, ...agent.ancestorIds];
        }
        const previous = await findActiveConsentsForUpdate(tx, { userId, purpose: purpose.key, ...(agentId ? { agentId } : { companyOnly: true }) });
        // The supersession's records are written with this consent's, in the order of the changes.
        const records = new ConsentRecords();
        await withdrawInTransaction(tx, previous, byCaller(caller), 'superseded by a new consent', now, records);
        const given = {
          id: newId('cns'),
          userId,
          purpose: purpose.key,
          agentId,
          scopes,
          givenAt: now,
          expiresAt: parsed.expiresAt ?? null,
          collectionMethod: parsed.collectionMethod ?? SELF_SERVICE,
          policyVersion: purpose.version,
        };
        const claims = receiptClaims({ ...given, status: 'active', withdrawnAt: null, receipt: null }, purpose, deps.receipts, agentId ? { id: agentId, chain } : null);
        const receipt = await signReceipt(deps.receipts.signingKey(), claims, deps.receipts.issuer, now);
        const consent = await insertConsent(tx, { ...given, receipt });
        const actor = actorFromPrincipal(caller.principal).actor;
        records.events.push({ consentId: consent.id, userId, kind: 'given', actor, detail: { scopes, agentId } });
        records.audits.push(auditOf('consent.given', consent, auditCaller(caller.principal, caller.requestId), { scopes, agentId }));
        // Its end, too: a lapse is found by a request, not announced, so a receiver keeping a list of
        // who opted in must know when each consent stops counting without asking the API.
        const expiresAt = consent.expiresAt?.toISOString() ?? null;
        records.webhooks.push({ type: 'consent.given', data: { consentId: consent.id, userId, purpose: consent.purpose, agentId, scopes, expiresAt } });
        await records.write(tx, now);
        return consent;
      });
    },

    /**
     * Withdraws a consent at once: every access token issued under it is refused from the next
     * request on, every refresh token is revoked. Withdrawing a withdrawn consent changes nothing.
     * @throws NotFoundError for an unknown id.
     */
    async withdraw(id: string, caller: Caller): Promise<Consent> {
      return db.transaction().execute(async (tx) => {
        const [consent] = await findConsentsByIds(tx, [id]);
        if (!consent) throw new NotFoundError('Consent');
        await lockUserConsents(tx, consent.userId);
        const [withdrawn] = await withdrawInTransaction(tx, [consent], byCaller(caller), 'withdrawn', clock.now());
        return withdrawn ?? (await findConsentsByIds(tx, [id]))[0]!;
      });
    },

    /**
     * Withdraws every consent naming the agent, as its decommissioning by `caller`, in the
     * caller's transaction, each recorded as `decommissionedBy` says; resolves to how many.
     */
    async withdrawAllForAgent(tx: Db, agentId: string, caller: Caller, now: Date): Promise<number> {
      const consents = await findActiveConsentsForUpdate(tx, { agentId });
      return (await withdrawInTransaction(tx, consents, decommissionedBy(caller), 'agent decommissioned', now)).length;
    },

    /**
     * Holds the user's consents until the caller's transaction ends: no other transaction gives or
     * withdraws one of them meanwhile, though decommissioning an agent still withdraws those naming
     * it. Taken before any agent lock, as giving a consent takes it.
     */
    lockConsentsOfUser: (tx: Db, userId: string) => lockUserConsents(tx, userId),

    /** Withdraws every consent of the user, in the caller's transaction, recording `reason`; resolves to how many. */
    async withdrawAllForUser(tx: Db, userId: string, caller: Caller, reason: string, now: Date): Promise<number> {
      await lockUserConsents(tx, userId);
      const consents = await findActiveConsentsForUpdate(tx, { userId });
      return (await withdrawInTransaction(tx, consents, byCaller(caller), reason, now)).length;
    },

    /**
     * Locks what a delegated grant stands on until the caller's transaction ends, and checks it as
     * it is now, in the order of the per-field decision: the user is active; the consent exists
     * and is the user's (NO_CONSENT), is not withdrawn (CONSENT_WITHDRAWN) nor expired at `now`
     * (CONSENT_EXPIRED); every agent of the chain and every ancestor is active (AGENT_INACTIVE). A
     * suspension, decommissioning, withdrawal or erasure that committed since the request's token
     * check is seen here; one that commits later waits for the caller's transaction, and so ends
     * whatever it wrote on the grant's strength (a refresh token among it). Locks in the hub's one
     * order: the user's row FOR SHARE, as an erasure locks it before the consent lock; the user's
     * consent lock, before any agent, as giving a consent and an erasure take it; the lineage of
     * the nearest agent FOR SHARE, ancestors first, as giving a consent does (it holds the whole
     * chain: each later hop is by a registered sub-agent of the one before); the consent row FOR
     * SHARE last, as decommissioning locks its agents before their consents. The consent lock
     * also makes the holds of one user's grants take turns.
     * @throws UnauthenticatedError for a user no longer active; ForbiddenError with the reason of the first check failed.
     */
    async holdGrant(tx: Db, grant: { readonly userId: string; readonly consentId: string; readonly actorChain: readonly string[] }, now: Date): Promise<Consent> {
      if (!(await deps.identity.isActiveForShare(tx, grant.userId))) throw new UnauthenticatedError('The user is no longer active');
      await lockUserConsents(tx, grant.userId);
      const agent = await deps.agents.findActiveAgentForShare(tx, grant.actorChain[0]!, now);
      const consent = await findConsentForShare(tx, grant.consentId);
      const inForce = decideConsentInForce(grant, consent ? { ...consent, expired: consentState(consent, now) === 'EXPIRED' } : null);
      if (!inForce.allowed) throw consentEnded(inForce.reason);
      const lineage = new Set(agent ? [agent.id, ...agent.ancestorIds] : []);
      if (!grant.actorChain.every((id) => lineage.has(id))) throw new ForbiddenError('AGENT_INACTIVE', 'An agent acting in this token is no longer active');
      // In force, so found.
      return consent!;
    },

    findConsents: (db: Db, ids: readonly string[]) => findConsentsByIds(db, ids),

    /** The newest consents of these users (`findConsentsOfUsers`). */
    findConsentsOfUsers: (db: Db, userIds: readonly string[], options: { limit: number; connectedAt?: Date }) => findConsentsOfUsers(db, userIds, options),

    /** The ledger events of these consents, oldest first. */
    findHistory: (db: Db, consentIds: readonly string[]) => findConsentEvents(db, consentIds),
  };
}

/** The newest version of every purpose, by key. */
export const listPurposes = (db: Db): Promise<Purpose[]> => findLatestPurposes(db);
