/**
 * A list read page by page: each page is a batch of JSON values. Pages are pulled one at a time,
 * so a list of any length costs the memory of one page.
 */
export type StreamedList = AsyncIterable<readonly unknown[]>;

function isStreamedList(value: unknown): value is StreamedList {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/**
 * One JSON object, written as text chunks in the order of `members`: a plain value is serialized
 * whole (`JSON.stringify`, so dates become ISO strings and `undefined` becomes null); a
 * `StreamedList` becomes a JSON array written one page per chunk. Concatenated, the chunks are a
 * single valid JSON document, which any JSON parser reads; a consumer that stops early (a closed
 * connection) ends the pulls of every list.
 */
export async function* jsonObjectChunks(members: readonly (readonly [key: string, value: unknown])[]): AsyncGenerator<string> {
  let separator = '{';
  for (const [key, value] of members) {
    const head = `${separator}${JSON.stringify(key)}:`;
    separator = ',';
    if (!isStreamedList(value)) {
      yield `${head}${JSON.stringify(value) ?? 'null'}`;
      continue;
    }
    let open = `${head}[`;
    for await (const page of value) {
      if (page.length === 0) continue;
      yield `${open}${page.map((item) => JSON.stringify(item) ?? 'null').join(',')}`;
      open = ',';
    }
    yield open === ',' ? ']' : `${open}]`;
  }
  yield separator === '{' ? '{}' : '}';
}

/**
 * The pages of a list read by keyset: `read` gets the last row of the previous page (undefined
 * for the first) and the page size; the list ends at the first page shorter than that. Each page
 * of rows becomes a page of records through `toRecords`, which may read more (once per page).
 */
export async function* keysetPages<R, T>(
  read: (after: R | undefined, limit: number) => Promise<readonly R[]>,
  limit: number,
  toRecords: (rows: readonly R[]) => readonly T[] | Promise<readonly T[]>,
): AsyncGenerator<readonly T[]> {
  let after: R | undefined;
  for (;;) {
    const rows = await read(after, limit);
    if (rows.length > 0) yield await toRecords(rows);
    if (rows.length < limit) return;
    after = rows.at(-1);
  }
}
