import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulidx';

/** The type prefixes of public ids (API.md), so no two kinds of id can collide. */
export type IdPrefix = 'usr' | 'agt' | 'cns' | 'apr' | 'evt' | 'aud' | 'whk' | 'msg' | 'ord' | 'pm' | 'rt' | 'key';

const ulid = monotonicFactory();

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
