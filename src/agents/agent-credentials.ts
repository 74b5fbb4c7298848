import { hash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../shared/constant-time.js';
import type { Agent } from './agent.queries.js';

/** An agent with a secret just made: the only moment the secret exists outside its holder. */
export interface AgentCredentials {
  readonly agent: Agent;
  readonly clientSecret: string;
}

/** Longest client secret considered; anything longer is refused before it is hashed. */
const MAX_SECRET_LENGTH = 512;

/** A new client secret: 256 random bits, base64url. Shown once, never stored. */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of a secret. A slow hash (Argon2) protects guessable passwords; a 256-bit random secret
 * is beyond guessing, so the fast hash loses nothing and keeps client authentication cheap.
 */
export function hashClientSecret(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

const NOTHING = hashClientSecret('');

/**
 * True when `secret` hashes to one of `hashes`, compared in constant time against every one
 * of them (no early exit), so the answer takes as long whichever matches. With no hashes (an
 * unknown client) it still hashes and compares once, so an unknown id answers like a wrong secret.
 */
export function secretMatches(hashes: readonly Uint8Array[], secret: string): boolean {
  const presented = hashClientSecret(secret.length <= MAX_SECRET_LENGTH ? secret : '');
  let match = false;
  for (const hash of hashes.length > 0 ? hashes : [NOTHING]) {
    const equal = constantTimeEqual(hash, presented);
    match = (equal && hashes.length > 0 && secret.length <= MAX_SECRET_LENGTH) || match;
  }
  return match;
}
