import { z } from 'zod';
import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import { endApprovalsOfSessions } from '../consent/approval.service.js';
import type { Db } from '../db/connect.js';
import type { TokenService, UserSession } from '../oauth/token.service.js';
import type { Clock } from '../shared/clock.js';
import type { Retention } from '../shared/housekeeping.js';
import { BadUserInputError, RateLimitedError, UnauthenticatedError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.js';
import type { Caller } from './identity.service.js';
import { hashPassword, PASSWORD_MAX_INPUT_LENGTH, passwordProblem, verifyAgainstNothing, verifyPassword } from './password.js';
import { country, email, locale, normalizeEmail, parseInput, personName } from './profile.input.js';
import { forgetEndedWindows, recordSignInSuccess, refusalRuns, reserveSignInAttempt, reserveSignUp } from './throttle.js';
import {
  findCredentialsByEmail,
  findCredentialsById,
  findUsersByIds,
  insertUser,
  replacePasswordHash,
  touchLastLogin,
  touchLastLoginIfCredentialsHold,
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

/**
 * A user's email and password: set at sign-up, checked at sign-in, replaced by a password change,
 * each check counted against the throttle and each success a new session. Part of the identity
 * service (`createIdentityService`); mutations pass their transaction as `db`.
 */
export function createCredentialsService(deps: { db: Db; tokens: TokenService; clock: Clock }) {
  const { tokens, clock } = deps;

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
    /** What sign-in keeps that the hub keeps no longer than it serves, for its housekeeping. */
    retentions: [{ name: 'sign-in and sign-up counts of ended windows', forget: (now, limit) => forgetEndedWindows(deps.db, now, limit) }] as readonly Retention[],

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
  };
}
