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
    // Each page is held only while it is written out as text: this generator, suspended until its
    // reader takes the text, keeps the text alone.
    const pages = value[Symbol.asyncIterator]();
    try {
      for (let text = await pageText(pages); text !== undefined; text = await pageText(pages)) {
        if (text === '') continue;
        yield `${open}${text}`;
        open = ',';
      }
    } finally {
      await pages.return?.();
    }
    yield open === ',' ? ']' : `${open}]`;
  }
  yield separator === '{' ? '{}' : '}';
}

/** The next page of `pages` as the JSON values of its items joined by commas; undefined at the end. */
async function pageText(pages: AsyncIterator<readonly unknown[]>): Promise<string | undefined> {
  const next = await pages.next();
  return next.done ? undefined : next.value.map((item) => JSON.stringify(item) ?? 'null').join(',');
}

/**
 * The list of the pages `next` reads, one per call, until it answers undefined; `end` runs when
 * a consumer stops early. An iterator, not a generator: a suspended generator keeps every local it
 * had, the page it yielded among them, until it is resumed, and an export whose reader takes
 * nothing would hold each page it read as rows, as records and as text, at every step of its lists.
 */
export function pagesFrom(next: () => Promise<readonly unknown[] | undefined>, end: () => Promise<unknown> = async () => {}): StreamedList {
  return {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const page = await next();
        return page === undefined ? { done: true, value: undefined } : { done: false, value: page };
      },
      return: async () => {
        await end();
        return { done: true, value: undefined };
      },
    }),
  };
}

/**
 * The pages of a list read by keyset: `read` gets the last row of the previous page (undefined
 * for the first) and the page size; the list ends at the first page shorter than that. Each page
 * of rows becomes a page of records through `toRecords`, which may read more (once per page).
 */
export function keysetPages<R, T>(
  read: (after: R | undefined, limit: number) => Promise<readonly R[]>,
  limit: number,
  toRecords: (rows: readonly R[]) => readonly T[] | Promise<readonly T[]>,
): StreamedList {
  let after: R | undefined;
  let done = false;
  return pagesFrom(async () => {
    while (!done) {
      const rows = await read(after, limit);
      done = rows.length < limit;
      after = rows.at(-1);
      if (rows.length > 0) return toRecords(rows);
    }
    return undefined;
  });
}
