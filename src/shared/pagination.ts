import { BadUserInputError, withoutStack } from './errors.js';
import { isId, type IdPrefix } from './ids.js';
import { isStorableText } from './input.js';

/** Page sizes: `first` defaults to `default` and may not exceed `max`, so no request can ask for everything. */
export const PAGE = Object.freeze({ default: 20, max: 100 });

/**
 * Audience pages have their own sizes: a campaign tool pulls members by the thousand, while the
 * hub's other lists stay at `PAGE.max`.
 */
export const AUDIENCE_PAGE = Object.freeze({ default: 100, max: 1_000 });

/**
 * A user's consents and connected agents are plain lists, newest first: all of them for nearly
 * every user, and never more than this for one who gave thousands.
 */
export const CONSENT_LIST = Object.freeze({ default: PAGE.max, max: PAGE.max });

export interface PageInfoShape {
  readonly hasNextPage: boolean;
  readonly endCursor: string | null;
}

export interface ConnectionShape<T> {
  readonly edges: readonly { readonly cursor: string; readonly node: T }[];
  readonly pageInfo: PageInfoShape;
}

/** The page size a request asked for, within `sizes`. @throws BadUserInputError outside 0..max. */
export function pageSize(first: number | null | undefined, sizes: { readonly default: number; readonly max: number } = PAGE): number {
  if (first === null || first === undefined) return sizes.default;
  if (!Number.isInteger(first) || first < 0 || first > sizes.max) throw new BadUserInputError('first', `must be from 0 to ${sizes.max}`);
  return first;
}

/**
 * An opaque cursor: base64url of the sort key of the row it follows; an instant goes in as
 * `toISOString()`. `list` names the list, for one whose key has the shape of another's (the
 * audience's members and the users list are both keyed by a user id): `decodeCursor` given the
 * same name then refuses the other's cursors.
 */
export function encodeCursor(key: readonly (string | number)[], list?: string): string {
  return Buffer.from(JSON.stringify(list === undefined ? key : [list, ...key])).toString('base64url');
}

/**
 * What a part of a cursor holds: `'date'` is an instant the hub encoded with `toISOString()`; an
 * id prefix is an id of that kind (`isId`), so a list keyed by the hub's own ids refuses a cursor
 * of another list rather than paging from wherever it sorts.
 */
export type CursorPart = 'string' | 'number' | 'date' | IdPrefix;

type CursorValue<P extends CursorPart> = P extends 'date' ? Date : P extends 'number' ? number : string;

/**
 * The sort key a cursor carries, each part checked against `shape` and converted, so that no part
 * of a forged cursor reaches the database as a value it would reject (that would be a masked
 * INTERNAL_SERVER_ERROR, not the client's mistake it is).
 * @throws BadUserInputError for a cursor the hub did not make.
 */
export function decodeCursor<const S extends readonly CursorPart[]>(cursor: string, shape: S, list?: string): { -readonly [I in keyof S]: CursorValue<S[I]> } {
  try {
    // A cursor that is not JSON makes a SyntaxError, dropped below: with no stack, as a query may refuse thousands.
    const parsed: unknown = cursor.length <= 512 ? withoutStack(() => JSON.parse(Buffer.from(cursor, 'base64url').toString())) : undefined;
    const key = list === undefined ? parsed : Array.isArray(parsed) && parsed[0] === list ? parsed.slice(1) : undefined;
    if (Array.isArray(key) && key.length === shape.length) {
      const parts = shape.map((kind, i) => decodePart(key[i], kind));
      if (!parts.includes(undefined)) return parts as { -readonly [I in keyof S]: CursorValue<S[I]> };
    }
  } catch {
    // Falls through to the error below.
  }
  throw new BadUserInputError('after', 'is not a cursor of this list');
}

/**
 * `toISOString()` of an instant in the years 1 to 9999, the only form of instant the hub encodes.
 * Narrower on purpose than Date.parse, which also reads "1" or "2020-01-01"; and years outside
 * 1..9999 (year 0, or six digits and a sign) are refused by PostgreSQL or by one of its drivers.
 */
const ISO_INSTANT = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** One part of a cursor as `kind`, or undefined when it is not one the hub encodes. Never throws. */
function decodePart(part: unknown, kind: CursorPart): string | number | Date | undefined {
  switch (kind) {
    // PostgreSQL text cannot hold U+0000 or an unpaired surrogate (which the drivers send as
    // U+FFFD, paging from another place than the one given), and no id or key the hub encodes does.
    case 'string':
      return typeof part === 'string' && isStorableText(part) ? part : undefined;
    // JSON.parse reads 1e999 as Infinity, which encodeCursor would have written as null.
    case 'number':
      return typeof part === 'number' && Number.isFinite(part) ? part : undefined;
    case 'date': {
      if (typeof part !== 'string' || !ISO_INSTANT.test(part)) return undefined;
      const at = new Date(part);
      // Round-trips only for a real calendar instant: 2020-02-30 would come back as March 1.
      return !Number.isNaN(at.getTime()) && at.toISOString() === part ? at : undefined;
    }
    default:
      return typeof part === 'string' && isId(kind, part) ? part : undefined;
  }
}

/**
 * An edge whose cursor is encoded only when the query reads it: most pages ask for none but the
 * last (`endCursor`), and a page of 50 users with 10 orders each would otherwise encode 550.
 */
export class Edge<R, T> {
  readonly #row: R;
  readonly #cursorOf: (row: R) => string;

  constructor(row: R, readonly node: T, cursorOf: (row: R) => string) {
    this.#row = row;
    this.#cursorOf = cursorOf;
  }

  get cursor(): string {
    return this.#cursorOf(this.#row);
  }
}

/**
 * A page from `limit + 1` rows fetched in order: the extra row only says another page follows.
 * Its `endCursor` is encoded only when read, as an edge's cursor is: a page of 50 users asks for
 * the orders of each, and seldom for their cursors.
 */
export function toConnection<R, T>(rows: readonly R[], limit: number, cursorOf: (row: R) => string, nodeOf: (row: R) => T): ConnectionShape<T> {
  const page = rows.slice(0, limit);
  const edges = page.map((row) => new Edge(row, nodeOf(row), cursorOf));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > limit,
      get endCursor() {
        return edges.at(-1)?.cursor ?? null;
      },
    },
  };
}
