import { z } from 'zod';
import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import type { Principal } from '../authz/principal.js';
import { endApprovalsOfSessions } from '../consent/approval.service.js';
import type { Db } from '../db/connect.js';
import type { TokenService, UserSession } from '../oauth/token.service.js';
import type { Clock } from '../shared/clock.js';
import { BadUserInputError, NotFoundError, RateLimitedError, UnauthenticatedError } from '../shared/errors.js';
import { isId, newId } from '../shared/ids.js';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.js';
import type { PaymentMethod } from './order.queries.js';
import { hashPassword, PASSWORD_MAX_INPUT_LENGTH, passwordProblem, verifyAgainstNothing, verifyPassword } from './password.js';
import { paymentMethodExists, replacePaymentMethodCard, type MaskedCard } from './payment-method.queries.js';
import { addPaymentMethod, assertRoomForPaymentMethod } from './payment-method.service.js';
import { country, email, locale, normalizeEmail, mergePreferences, parseInput, personName, profileChangesSchema, toAddressJson } from './profile.input.js';
import { forgetAccount, forgetEndedWindows, recordSignInSuccess, refusalRuns, reserveSignInAttempt, reserveSignUp } from './throttle.js';
import {
  findCredentialsByEmail,
  findCredentialsById,
  findUserForUpdate,
  findUsersByIds,
  insertUser,
  isUserActiveForShare,
  replacePasswordHash,
  setUserStatus,
  touchLastLogin,
  touchLastLoginIfCredentialsHold,
  updateUserProfile,
  type ProfileChanges,
  type User,
} from './user.queries.js';

export interface AuthPayload extends UserSession {
  readonly user: User;
}

const signUpSchema = z.object({
  email,
  password: z.string(),
  givenName: personName.nullish(),
  familyName: personName.nullish(),
  locale: locale.nullish(),
  country: country.nullish(),
});

const signInSchema = z.object({ email: z.string().max(254).transform(normalizeEmail), password: z.string().max(PASSWORD_MAX_INPUT_LENGTH) });

const changePasswordSchema = z.object({ currentPassword: signInSchema.shape.password, newPassword: z.string() });

/** The same answer for an unknown email and a wrong password, so neither tells the other apart. */
const badCredentials = () => new UnauthenticatedError('Invalid email or password');

/** Who asked, for the audit trail. */
export interface Caller {
  readonly principal: Principal;
  readonly requestId: string | null;
}

export type { PaymentMethod } from './order.queries.js';
export { MAX_PAYMENT_METHODS } from './payment-method.service.js';
export { toUser, type User } from './user.queries.js';

export type IdentityService = ReturnType<typeof createIdentityService>;

/** Sign-up, sign-in and the profile a user keeps. Mutations pass their transaction as `db`. */
export function createIdentityService(deps: { db: Db; tokens: TokenService; clock: Clock }) {
  const { tokens, clock } = deps;
  const profileChanges = profileChangesSchema(clock);

  // Whether a refusal for the count is the first of its run (`refusalRuns`), the one audited.
  const firstRefusalOfRun = refusalRuns();

  /**
   * Counts a password check against the account and the address before it is made (see
   * `reserveSignInAttempt`); the first check refused for the count in a run (`firstRefusalOfRun`)
   * is audited through `failed`.
   */
  const reservePasswordCheck = async (login: string, accountId: string | undefined, address: string, now: Date, failed: (reason: string) => Promise<unknown>) => {
    await forgetEndedWindows(deps.db, now);
    return deps.db
      .transaction()
      .execute((tx) => reserveSignInAttempt(tx, login, address, now))
      .catch(async (error: unknown) => {
        if (error instanceof RateLimitedError && firstRefusalOfRun(accountId, address, now, error.retryAfterSeconds)) await failed('RATE_LIMITED');
        throw error;
      });
  };

  return {
    /**
     * @param address the client's network address, for throttling per address.
     * @throws BadUserInputError for a bad field, an unacceptable password or a taken email,
     *   RateLimitedError past the sign-ups an address may make (`THROTTLE.signUpsPerAddress`):
     *   counted before the password is hashed, as sign-in counts before it checks one.
     */
    async signUp(input: unknown, address: string, caller: Caller): Promise<AuthPayload> {
      const parsed = parseInput(signUpSchema, input);
      const problem = passwordProblem(parsed.password, parsed.email);
      if (problem) throw new BadUserInputError('input.password', problem);
      const reservedAt = clock.now();
      await forgetEndedWindows(deps.db, reservedAt);
      await deps.db.transaction().execute((tx) => reserveSignUp(tx, address, reservedAt));
      const passwordHash = await hashPassword(parsed.password);
      return deps.db.transaction().execute(async (tx) => {
        const now = clock.now();
        const user = await insertUser(tx, {
          id: newId('usr'),
          email: parsed.email,
          passwordHash,
          givenName: parsed.givenName ?? null,
          familyName: parsed.familyName ?? null,
          locale: parsed.locale ?? null,
          country: parsed.country ?? null,
          now,
        });
        if (!user) throw new BadUserInputError('input.email', 'is already registered');
        // The session before the user's trail, as every new session is issued (`issueUserSession`).
        const issued = await tokens.issueUserSession(tx, user.id, now, { requestId: caller.requestId });
        await auditInTransaction(
          tx,
          { action: 'user.signed_up', ...auditCaller(caller.principal, caller.requestId), actor: { kind: 'user', id: user.id }, subjectUserId: user.id, decision: 'ALLOW' },
          now,
        );
        return { ...issued, user };
      });
    },

    /**
     * @param address the client's network address, for throttling per address.
     * @throws UnauthenticatedError for an unknown email or a wrong password (one answer for both),
     *   RateLimitedError after repeated failures for the account or the address.
     *   The attempt is counted before the password is checked, so concurrent attempts cannot
     *   get more password checks than the limits allow; it stays counted unless it succeeds.
     */
    async signIn(input: unknown, address: string, caller: Caller): Promise<AuthPayload> {
      const { email: login, password } = parseInput(signInSchema, input);
      const now = clock.now();
      const audit = auditCaller(caller.principal, caller.requestId);
      const account = await findCredentialsByEmail(deps.db, login);
      const failed = (reason: string) =>
        auditInTransaction(deps.db, { action: 'user.sign_in_failed', ...audit, subjectUserId: account?.id ?? null, decision: 'DENY', reason }, now);
      const attempt = await reservePasswordCheck(login, account?.id, address, now, failed);
      const checkedHash = account?.status === 'active' ? account.password_hash : null;
      const matches = checkedHash ? await verifyPassword(checkedHash, password) : await verifyAgainstNothing(password);
      if (!account || !checkedHash || !matches) {
        await failed(account ? 'WRONG_PASSWORD' : 'UNKNOWN_ACCOUNT');
        throw badCredentials();
      }
      const session = await deps.db.transaction().execute(async (tx) => {
        // The user's row before the throttle rows, the order erasure locks them in. The password
        // was checked against a hash read before this transaction: the update holds only while
        // that hash is still the user's and the user still active, and locks the row as a password
        // change does, so a change (and its revocation of every session) either committed before
        // and this sign-in is refused, or waits for it to commit and then revokes its session.
        const user = await touchLastLoginIfCredentialsHold(tx, account.id, checkedHash, now);
        if (!user) return undefined;
        await recordSignInSuccess(tx, attempt);
        // The session first: it may end old ones, whose refresh or revocation holds their rows
        // while waiting on the user's audit trail, which the event below takes.
        const issued = await tokens.issueUserSession(tx, user.id, now, { requestId: caller.requestId });
        await auditInTransaction(tx, { action: 'user.signed_in', ...audit, actor: { kind: 'user', id: account.id }, subjectUserId: account.id, decision: 'ALLOW' }, now);
        return { ...issued, user };
      });
      // Password changed, user suspended or erased while the password was checked: refused as a
      // wrong password is, the attempt left counted; audited once the empty transaction has ended.
      if (!session) {
        await failed('WRONG_PASSWORD');
        throw badCredentials();
      }
      return session;
    },

    /**
     * A signed-in user replaces their password, proving it with the current one: that check is
     * throttled and counted as a sign-in's is (per account and address), so a stolen session
     * cannot guess at it faster. Every refresh token of the user is revoked with the change, so
     * every session and every token an agent obtained from one ends on every instance (OWASP:
     * sessions end when the password changes), as does every approval a session gave and no agent
     * used yet; the caller gets a new session, signed in now. Announced as `user.password_changed`,
     * with how many sessions ended, for receivers that keep sessions of their own.
     * @param address the client's network address, for throttling per address.
     * @throws BadUserInputError for an unacceptable new password (checked first, counting
     *   nothing) or a wrong current one, RateLimitedError after repeated failures,
     *   UnauthenticatedError for a user no longer active.
     */
    async changePassword(userId: string, input: unknown, address: string, caller: Caller): Promise<AuthPayload> {
      const { currentPassword, newPassword } = parseInput(changePasswordSchema, input);
      const now = clock.now();
      const audit = { ...auditCaller(caller.principal, caller.requestId), subjectUserId: userId };
      const account = await findCredentialsById(deps.db, userId);
      if (!account || account.status !== 'active' || !account.email || !account.password_hash) throw new UnauthenticatedError();
      const { email: login, password_hash: currentHash } = account;
      const problem = passwordProblem(newPassword, login);
      if (problem) throw new BadUserInputError('input.newPassword', problem);
      const failed = (reason: string) => auditInTransaction(deps.db, { action: 'user.password_change_failed', ...audit, decision: 'DENY', reason }, now);
      const attempt = await reservePasswordCheck(login, userId, address, now, failed);
      if (!(await verifyPassword(currentHash, currentPassword))) {
        await failed('WRONG_PASSWORD');
        throw new BadUserInputError('input.currentPassword', 'is not the current password');
      }
      const nextHash = await hashPassword(newPassword);
      return deps.db.transaction().execute(async (tx) => {
        // The user's row before the throttle rows, the order erasure locks them in.
        if (!(await replacePasswordHash(tx, userId, currentHash, nextHash, now))) {
          throw new BadUserInputError('input.currentPassword', 'is no longer the current password: it was changed meanwhile');
        }
        await recordSignInSuccess(tx, attempt);
        const sessionsEnded = await tokens.revokeRefreshTokensOfUser(tx, userId, now);
        const approvalsEnded = await endApprovalsOfSessions(tx, userId, now);
        await auditInTransaction(tx, { action: 'user.password_changed', ...audit, decision: 'ALLOW', detail: { sessionsEnded, approvalsEnded } }, now);
        await enqueueWebhookEvent(tx, { type: 'user.password_changed', data: { userId, sessionsEnded } }, now);
        await touchLastLogin(tx, userId, now);
        const [user] = await findUsersByIds(tx, [userId]);
        return { ...(await tokens.issueUserSession(tx, userId, now, { requestId: caller.requestId })), user: user! };
      });
    },

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
