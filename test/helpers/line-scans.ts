/**
 * How many times `run` starts reading a text of over 50,000 characters for GraphQL's line breaks
 * (`/\r\n|[\n\r]/g` from its start), as graphql-js does to locate each error and `lineBreaksOf`
 * once per document.
 */
export async function lineScansDuring<T>(run: () => Promise<T>): Promise<{ result: T; scans: number }> {
  const exec = RegExp.prototype.exec;
  let scans = 0;
  RegExp.prototype.exec = function (this: RegExp, text: string) {
    if (this.source === '\\r\\n|[\\n\\r]' && this.lastIndex === 0 && text.length > 50_000) scans++;
    return exec.call(this, text);
  };
  try {
    return { result: await run(), scans };
  } finally {
    RegExp.prototype.exec = exec;
  }
}
