import type pg from 'pg';

/**
 * Put first in a statement's SQL (`sql\`${PREPARED} select …\``) to have the `pg` driver send it
 * as a named prepared statement: parsed and planned once per connection, not on every call. For
 * the few statements every request runs; their text must not vary with their parameters, and they
 * name the columns they return: PostgreSQL refuses every later run of a prepared `select *` once a
 * migration (another instance's, starting) adds a column to its table ("cached plan must not change
 * result type"), and a connection in steady use is never closed to forget it. PGlite runs in
 * process and gains nothing, so it ignores the marker (it is a comment).
 */
export const PREPARED_MARKER = '/* prepared */';

const names = new Map<string, string>();

function statementName(text: string): string {
  let name = names.get(text);
  if (!name) names.set(text, (name = `hub_prepared_${names.size + 1}`));
  return name;
}

/** Wraps a pooled client's `query` so that statements carrying PREPARED_MARKER are named. */
export function usePreparedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const named = (text: unknown, ...rest: unknown[]) =>
    typeof text === 'string' && text.startsWith(PREPARED_MARKER) && rest.length <= 1 && (rest[0] === undefined || Array.isArray(rest[0]))
      ? query({ name: statementName(text), text, values: rest[0] })
      : query(text, ...rest);
  (client as unknown as { query: typeof named }).query = named;
}
