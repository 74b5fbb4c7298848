import { timingSafeEqual } from 'node:crypto';

/**
 * Whether two secrets, MACs or hashes are equal, in time that depends on their length only, never
 * on where they first differ. Lengths are not secret here: each is fixed by the hash or MAC made.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
