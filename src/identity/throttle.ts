import type { Transaction } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/database.js';
import { addressNetwork } from '../shared/address.js';
import { RateLimitedError } from '../shared/errors.js';
import { addAttempt, clearFailures, clearFailuresFrom, deleteEndedWindows, removeAttempt, type ThrottleCount } from './throttle.queries.js';

/**
 * Failed sign-ins are counted per account and client address, per account and per client address
 * in fixed windows kept in the database, so every instance sees the same counts. Per account and
 * address, few failures lock out guessing at one password from there, and only from there: a
 * stranger who types someone's email with wrong passwords locks out themself, not the owner at
 * their own address. Per account from every address, more (NIST SP 800-63B's ceiling of 100), so
 * guessing spread over many addresses is bounded too, and locking the owner out takes 20
 * addresses (IPv6 /64s) a window. Per address, more, so a shared NAT is not locked out at once.
 *
 * An attempt is counted before its password is checked and stays counted unless it succeeds.
 * Counting only after the check let concurrent attempts all pass a check that none of them had
 * yet been counted in, each spending a real password verification.
 *
 * Sign-ups are counted per address in the same windows, under a key of their own, and every one
 * of them, since each spends an Argon2id hash and may create an account: an address gets as many
 * as it gets failed sign-ins, the same budget of password hashes.
 *
 * Every password check of an account from an address, right or wrong, is counted too
 * (`checksPerAccountAddress`), and never taken back: each is an Argon2id hash, and one right
 * password repeated from one address would otherwise be as many hashes as the GraphQL rate limit
 * lets through (OWASP Authentication Cheat Sheet: throttle every verification).
 */
export const THROTTLE = Object.freeze({ windowSeconds: 15 * 60, perAccountAddress: 5, perAccount: 100, perAddress: 50, signUpsPerAddress: 50, checksPerAccountAddress: 30 });

const account = (email: string) => email.toLowerCase();
const accountKey = (email: string) => `account:${account(email)}`;
/** An email holds no space: the part after ` from ` is the address's network. */
const accountAddressKey = (email: string, address: string) => `account:${account(email)} from ${addressNetwork(address)}`;
const checksKey = (email: string, address: string) => `checks:${account(email)} from ${addressNetwork(address)}`;
const addressKey = (address: string) => `address:${addressNetwork(address)}`;
const signUpKey = (address: string) => `sign-up:${addressNetwork(address)}`;

/** An attempt counted against its account and address, until it is known to have succeeded. */
export interface SignInAttempt {
  readonly email: string;
  readonly address: string;
  /** The address's window the attempt was counted in: success takes it back from that window only. */
  readonly addressWindowStartedAt: Date;
}

/**
 * Counts one sign-in attempt against the account from the address (its failures and its checks),
 * the account and the address, before the password is checked. In a transaction because a refusal throws and the rollback
 * takes back what was counted, so a refused attempt counts against no key. The rows stay locked
 * until the transaction ends: keep it short (no password check in it). Account before address,
 * always, so two callers never wait for each other's rows.
 * @throws RateLimitedError when a count has already reached its limit.
 */
export async function reserveSignInAttempt(tx: Transaction<Database>, email: string, address: string, now: Date): Promise<SignInAttempt> {
  assertWithinLimit(await addAttempt(tx, accountAddressKey(email, address), now, THROTTLE.windowSeconds), THROTTLE.perAccountAddress, now);
  assertWithinLimit(await addAttempt(tx, checksKey(email, address), now, THROTTLE.windowSeconds), THROTTLE.checksPerAccountAddress, now);
  assertWithinLimit(await addAttempt(tx, accountKey(email), now, THROTTLE.windowSeconds), THROTTLE.perAccount, now);
  const addressCount = await addAttempt(tx, addressKey(address), now, THROTTLE.windowSeconds);
  assertWithinLimit(addressCount, THROTTLE.perAddress, now);
  return { email, address, addressWindowStartedAt: addressCount.windowStartedAt };
}

/** Runs of refusals remembered per instance: a few MB at most. */
const REMEMBERED_RUNS = 50_000;

/**
 * A memory of runs of refusals for the count, each keyed by an account (or no account) and an
 * address's network: the returned function tells whether a refusal is the first of its run on
 * this instance, the one the account's trail (or, for an email of no account, the hub's) takes.
 * A refused attempt is counted nowhere, so a stranger typing someone's email could otherwise
 * write to their trail, in a statement of its own, for every request the GraphQL rate limit lets
 * through, window after window; a run of 429s at the OAuth endpoints is recorded once, as here.
 * A run ends when the refusal's `retryAfterSeconds` have passed.
 */
export function refusalRuns(): (accountId: string | undefined, address: string, now: Date, retryAfterSeconds: number) => boolean {
  const runEnds = new LRUCache<string, number>({ max: REMEMBERED_RUNS });
  return (accountId, address, now, retryAfterSeconds) => {
    const key = `${accountId ?? 'no account'} from ${addressNetwork(address)}`;
    if ((runEnds.get(key) ?? -Infinity) > now.getTime()) return false;
    runEnds.set(key, now.getTime() + retryAfterSeconds * 1_000);
    return true;
  };
}

/**
 * Counts one sign-up against the address, before its password is hashed; it stays counted
 * whether or not the account is then created (a taken email is found only after the hash). In a
 * transaction, as `reserveSignInAttempt`: a refused sign-up is rolled back and not counted.
 * @throws RateLimitedError when the address has already reached its limit.
 */
export async function reserveSignUp(tx: Transaction<Database>, address: string, now: Date): Promise<void> {
  assertWithinLimit(await addAttempt(tx, signUpKey(address), now, THROTTLE.windowSeconds), THROTTLE.signUpsPerAddress, now);
}

/**
 * A successful sign-in clears the account's failures, from its address and in all, and takes its
 * own attempt back from the address's, so only failures count against a shared address; the
 * address's other failures stay until their window ends.
 */
export async function recordSignInSuccess(db: Db, attempt: SignInAttempt): Promise<void> {
  await clearFailures(db, accountAddressKey(attempt.email, attempt.address), accountKey(attempt.email));
  await removeAttempt(db, addressKey(attempt.address), attempt.addressWindowStartedAt);
}

/** Forgets every count of an account, its failures and its checks from every address: the email they hold goes with them (erasure). */
export async function forgetAccount(db: Db, email: string): Promise<void> {
  await clearFailures(db, accountKey(email));
  await clearFailuresFrom(db, `account:${account(email)} from `, `checks:${account(email)} from `);
}

/** Ended windows forgotten per sign-in or sign-up: more than either adds, so they never pile up. */
const FORGET_PER_CALL = 100;

/**
 * Forgets up to `limit` counts whose window has ended: they limit nothing, and an account's keys
 * hold the email typed in a sign-in, which is kept no longer than it serves (GDPR Art. 5(1)(e));
 * left, anyone could grow the table without end by typing new emails. Each sign-in and sign-up
 * forgets some, and the hub's housekeeping the rest, on an instance nobody signs in to any more.
 * A statement of its own, run before a reservation's transaction: inside one, the rows it locks
 * could deadlock with another's. Resolves to how many went.
 */
export function forgetEndedWindows(db: Db, now: Date, limit = FORGET_PER_CALL): Promise<number> {
  return deleteEndedWindows(db, new Date(now.getTime() - THROTTLE.windowSeconds * 1_000), limit);
}

/** `count` includes the attempt being made, so the limit itself is still allowed. */
function assertWithinLimit(count: ThrottleCount, limit: number, now: Date): void {
  if (count.failures <= limit) return;
  const retryAt = count.windowStartedAt.getTime() + THROTTLE.windowSeconds * 1_000;
  throw new RateLimitedError(Math.max(1, Math.ceil((retryAt - now.getTime()) / 1_000)));
}
