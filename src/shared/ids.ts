import { monotonicFactory } from 'ulidx';

/** The type prefixes of public ids (API.md), so no two kinds of id can collide. */
export type IdPrefix = 'usr' | 'agt' | 'cns' | 'apr' | 'evt' | 'aud' | 'whk' | 'msg' | 'ord' | 'pm' | 'rt' | 'key';

const ulid = monotonicFactory();

/** A new opaque id such as `usr_01JD3…`: a ULID, so ids sort by creation time. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid()}`;
}

/** True when `id` has the shape of an id of this kind; says nothing of whether it exists. */
export function isId(prefix: IdPrefix, id: string): boolean {
  return id.length === prefix.length + 27 && id.startsWith(`${prefix}_`) && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id.slice(prefix.length + 1));
}
