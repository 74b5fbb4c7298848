import { BadUserInputError } from './errors.js';

/** Page sizes: `first` defaults to DEFAULT and may not exceed MAX, so no request can ask for everything. */
export const PAGE = Object.freeze({ default: 20, max: 100 });

export interface PageInfoShape {
  readonly hasNextPage: boolean;
  readonly endCursor: string | null;
}

export interface ConnectionShape<T> {
  readonly edges: readonly { readonly cursor: string; readonly node: T }[];
  readonly pageInfo: PageInfoShape;
}

/** The page size a request asked for, within PAGE. @throws BadUserInputError outside 0..max. */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return PAGE.default;
  if (!Number.isInteger(first) || first < 0 || first > PAGE.max) throw new BadUserInputError('first', `must be from 0 to ${PAGE.max}`);
  return first;
}

/** An opaque cursor: base64url of the sort key of the row it follows. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** @throws BadUserInputError for a cursor the hub did not make. */
export function decodeCursor(cursor: string, shape: readonly ('string' | 'number')[]): (string | number)[] {
  try {
    const key: unknown = cursor.length <= 512 ? JSON.parse(Buffer.from(cursor, 'base64url').toString()) : undefined;
    if (Array.isArray(key) && key.length === shape.length && key.every((part, i) => typeof part === shape[i])) return key;
  } catch {
    // Falls through to the error below.
  }
  throw new BadUserInputError('after', 'is not a cursor of this list');
}

/** A page from `limit + 1` rows fetched in order: the extra row only says another page follows. */
export function toConnection<R, T>(rows: readonly R[], limit: number, cursorOf: (row: R) => string, nodeOf: (row: R) => T): ConnectionShape<T> {
  const page = rows.slice(0, limit);
  const edges = page.map((row) => ({ cursor: cursorOf(row), node: nodeOf(row) }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null } };
}
