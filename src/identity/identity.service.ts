import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import type { Principal } from '../authz/principal.js';
import type { Db } from '../db/connect.js';
import type { TokenService } from '../oauth/token.service.js';
import type { Clock } from '../shared/clock.js';
import { BadUserInputError, NotFoundError } from '../shared/errors.js';
import { isId } from '../shared/ids.js';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.js';
import { createCredentialsService } from './credentials.service.js';
import type { PaymentMethod } from './order.queries.js';
import { paymentMethodExists, replacePaymentMethodCard, type MaskedCard } from './payment-method.queries.js';
import { addPaymentMethod, assertRoomForPaymentMethod } from './payment-method.service.js';
import { mergePreferences, parseInput, profileChangesSchema, toAddressJson } from './profile.input.js';
import { forgetAccount } from './throttle.js';
import { findUserForUpdate, findUsersByIds, isUserActiveForShare, setUserStatus, updateUserProfile, type ProfileChanges, type User } from './user.queries.js';

/** Who asked, for the audit trail. */
export interface Caller {
  readonly principal: Principal;
  readonly requestId: string | null;
}

export type { PaymentMethod } from './order.queries.js';
export { MAX_PAYMENT_METHODS } from './payment-method.service.js';
export { toUser, type User } from './user.queries.js';

export type IdentityService = ReturnType<typeof createIdentityService>;

/** Sign-up and sign-in (see credentials.service.ts), and the profile a user keeps. Mutations pass their transaction as `db`. */
export function createIdentityService(deps: { db: Db; tokens: TokenService; clock: Clock }) {
  const { clock } = deps;
  const profileChanges = profileChangesSchema(clock);

  return {
    ...createCredentialsService(deps),

    /**
     * An operator suspends a user, or reactivates a suspended one. Suspended, the user's own
     * tokens and the agents' tokens delegated for them are refused on the next request on every
     * instance (the token check reads the status), as are the tokens of every agent the user owns
     * (and of its sub-agents), whoever they act for; sign-in, refresh and those agents' client
     * authentication fail, and the user leaves every audience. Nothing is revoked, so all of it
     * works again once reactivated. Audited and announced (`user.suspended`, `user.reactivated`);
     * setting the status the user has changes nothing and records nothing.
     * @throws BadUserInputError for an id that is not a user id, NotFoundError for an unknown or erased user.
     */
    async setStatus(userId: string, status: 'active' | 'suspended', caller: Caller): Promise<User> {
      if (!isId('usr', userId)) throw new BadUserInputError('id', 'is not a user id');
      return deps.db.transaction().execute(async (tx) => {
        const now = clock.now();
        const result = await setUserStatus(tx, userId, status, now);
        if (!result) throw new NotFoundError('User');
        if (result.changed) {
          const action = status === 'suspended' ? 'user.suspended' : 'user.reactivated';
          await auditInTransaction(tx, { action, ...auditCaller(caller.principal, caller.requestId), subjectUserId: userId, decision: 'ALLOW' }, now);
          await enqueueWebhookEvent(tx, { type: action, data: { userId } }, now);
        }
        return result.user;
      });
    },

    /**
     * Sets the fields given and leaves the others as they are; `null` clears a field. `hold` runs
     * once the user's row is locked, in the same transaction: for an agent, what its write stands
     * on (`ConsentService.holdGrant`), so that a withdrawal or suspension committed since the
     * token check refuses the write, and one committing meanwhile waits for it.
     * @throws BadUserInputError naming the first bad field, NotFoundError for an inactive user, or what `hold` throws.
     */
    async updateProfile(userId: string, input: unknown, caller: Caller, hold?: (tx: Db, now: Date) => Promise<unknown>): Promise<User> {
      const parsed = parseInput(profileChanges, input);
      return deps.db.transaction().execute(async (tx) => {
        const current = await findUserForUpdate(tx, userId);
        if (!current) throw new NotFoundError('User');
        await hold?.(tx, clock.now());
        const changes: ProfileChanges = {};
        for (const key of ['givenName', 'familyName', 'phone', 'birthdate', 'locale', 'country'] as const) {
          if (parsed[key] !== undefined) changes[key] = parsed[key];
        }
        if (parsed.address !== undefined) changes.address = parsed.address && toAddressJson(parsed.address);
        if (parsed.preferences !== undefined) changes.preferences = parsed.preferences ? mergePreferences(current.preferences, parsed.preferences) : {};
        const now = clock.now();
        const updated = await updateUserProfile(tx, userId, changes, now);
        if (!updated) throw new NotFoundError('User');
        await auditInTransaction(
          tx,
          { action: 'profile.updated', ...auditCaller(caller.principal, caller.requestId), subjectUserId: userId, decision: 'ALLOW', detail: { fields: Object.keys(changes).sort() } },
          now,
        );
        return updated;
      });
    },

    /**
     * Forgets the sign-ins counted against an email (failures and checks), in the caller's
     * transaction: the email goes with the erased account, and the address may sign up again as
     * someone new, who starts with a clean count.
     */
    forgetSignInCounts: (tx: Db, email: string): Promise<void> => forgetAccount(tx, email),

    /** A masked card as a new payment method, within MAX_PAYMENT_METHODS (see payment-method.service.ts). */
    addPaymentMethod,

    /** @throws BadUserInputError when the user holds MAX_PAYMENT_METHODS already: an addition could not be made. */
    assertRoomForPaymentMethod,

    /** Replaces the card of one of the user's payment methods; undefined when the user has no method with that id. */
    changePaymentMethod: (tx: Db, userId: string, id: string, card: MaskedCard): Promise<PaymentMethod | undefined> => replacePaymentMethodCard(tx, userId, id, card),

    hasPaymentMethod: (db: Db, userId: string, id: string): Promise<boolean> => paymentMethodExists(db, userId, id),

    /** `isUserActiveForShare`: whether the user is active, no change of their status committing before the caller's transaction does. */
    isActiveForShare: (tx: Db, userId: string): Promise<boolean> => isUserActiveForShare(tx, userId),

    async findActiveUser(db: Db, userId: string): Promise<User | undefined> {
      const [user] = await findUsersByIds(db, [userId]);
      return user?.status === 'active' ? user : undefined;
    },
  };
}
