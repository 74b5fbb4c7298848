import { hash, verify } from '@node-rs/argon2';

/**
 * Passwords per NIST SP 800-63B-4 §3.1.1.2: length, not composition. A password that is the only
 * factor must have at least 15 characters; at least 64 are accepted (here 256, which bounds the
 * hashing cost); compared after Unicode NFKC normalization, counted in code points.
 */
const PASSWORD_MIN_LENGTH = 15;
const PASSWORD_MAX_LENGTH = 256;

/**
 * The most UTF-16 code units of a password as typed that sign-in reads. Normalization can shrink
 * a password (a base letter and its marks compose to one character), so this bounds the work
 * spent on one before it is normalized, and a password set longer than this could never be given
 * at sign-in: none is accepted.
 */
export const PASSWORD_MAX_INPUT_LENGTH = 1_024;

/** Common long passwords, and the patterns any blocklist names: refused whatever their length. */
const BLOCKLIST = new Set([
  'passwordpassword',
  'password1234567',
  'password12345678',
  'passwordpassword1',
  '123456789012345',
  '1234567890123456',
  'qwertyuiopasdfgh',
  'qwertyuiopasdfghjkl',
  'iloveyouiloveyou',
  'letmeinletmein1',
  'correcthorsebatterystaple',
  'abcdefghijklmnop',
  'aaaaaaaaaaaaaaa',
]);

/**
 * Runs of keys, letters and digits, each read in both directions and round its end: a password
 * that lies wholly within one ('abcdefghijklmnopqrstuvwxyz', 'qwertyuiopasdfghjklzxcvbnm',
 * '1234567890123456789') is what the blocklist's entries stand for, at any length.
 */
const SEQUENCES = ['abcdefghijklmnopqrstuvwxyz', '0123456789', 'qwertyuiopasdfghjklzxcvbnm', 'zxcvbnmasdfghjklqwertyuiop', '1q2w3e4r5t6y7u8i9o0p', '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p']
  .flatMap((run) => [run, [...run].reverse().join('')])
  .map((run) => run.repeat(Math.ceil(PASSWORD_MAX_LENGTH / run.length) + 1));

/** A password that is one shorter unit repeated, the last time in part ('passwordpasswordpassword', 'iloveyouiloveyouiloveyou'). */
function isRepetition(chars: readonly string[]): boolean {
  for (let period = 1; period <= chars.length / 2; period++) {
    if (chars.every((char, i) => i < period || char === chars[i - period])) return true;
  }
  return false;
}

function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Why this password may not be chosen, or undefined when it may. Never throws. */
export function passwordProblem(password: string, email: string): string | undefined {
  if (password.length > PASSWORD_MAX_INPUT_LENGTH) return `must have at most ${PASSWORD_MAX_LENGTH} characters`;
  const normalized = normalizePassword(password);
  const length = [...normalized].length;
  if (length < PASSWORD_MIN_LENGTH) return `must have at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `must have at most ${PASSWORD_MAX_LENGTH} characters`;
  const folded = normalized.toLowerCase();
  if (BLOCKLIST.has(folded) || new Set(folded).size <= 2 || isRepetition([...folded]) || SEQUENCES.some((run) => run.includes(folded))) {
    return 'is too common or too easy to guess';
  }
  // The whole address too: a local part shorter than 4 is not refused alone ('bob' is in many
  // a good passphrase), but 'bob@example.com' is 15 characters, and the first guess of anyone
  // who knows the account.
  const address = email.trim().toLowerCase();
  const local = address.split('@')[0] ?? '';
  if ((address.length > 0 && folded.includes(address)) || (local.length >= 4 && folded.includes(local))) return 'must not contain the email address';
  return undefined;
}

/** Argon2id with the package's defaults, which are OWASP's (19 MiB, 2 passes, 1 lane). */
export function hashPassword(password: string): Promise<string> {
  return hash(normalizePassword(password));
}

/** Never throws: a malformed stored hash is a mismatch. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await verify(storedHash, normalizePassword(password));
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the time of one verification against a hash no password matches, so an unknown email
 * answers as slowly as a wrong password.
 */
export async function verifyAgainstNothing(password: string): Promise<false> {
  dummyHash ??= hash('no password matches this hash: the account does not exist');
  await verifyPassword(await dummyHash, password);
  return false;
}
