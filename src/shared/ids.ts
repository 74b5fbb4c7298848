import { randomBytes, randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulidx';

/** The type prefixes of public ids (API.md), so no two kinds of id can collide. */
export type IdPrefix = 'usr' | 'agt' | 'cns' | 'apr' | 'evt' | 'aud' | 'whk' | 'msg' | 'ord' | 'pm' | 'rt' | 'key';

/**
 * Random bytes from the system's generator, drawn 4 KiB at a time: ulidx asks its generator for
 * one number per character, 16 calls into WebCrypto for each new ULID otherwise, measured at a
 * few per cent of a profile read's time.
 */
const pool = Buffer.alloc(4_096);
let drawn = pool.length;

/** A number in [0, 1) from one random byte: `Math.floor(n * 32)`, as ulidx takes it, is then uniform. */
function randomFraction(): number {
  if (drawn === pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  return pool[drawn++]! / 256;
}

const ulid = monotonicFactory(randomFraction);

/** Crockford's base32, as ULIDs spell theirs. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A new opaque id such as `cns_01JD3…`: a ULID, so ids sort by creation time. A user's id is 26
 * random characters of the same alphabet (130 bits) instead: whoever sees a user's id must not
 * learn when they signed up, a profile field (`createdAt`) the per-field decision may refuse.
 */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${prefix === 'usr' ? randomCrockford(26) : ulid()}`;
}

/** `length` characters of Crockford's base32, each from one random byte (256 is a multiple of 32: uniform). */
export function randomCrockford(length: number, bytes: Uint8Array = randomBytes(length)): string {
  let text = '';
  for (let i = 0; i < length; i++) text += CROCKFORD[bytes[i]! & 31];
  return text;
}

/** True when `id` has the shape of an id of this kind; says nothing of whether it exists. */
export function isId(prefix: IdPrefix, id: string): boolean {
  return id.length === prefix.length + 27 && id.startsWith(`${prefix}_`) && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id.slice(prefix.length + 1));
}
