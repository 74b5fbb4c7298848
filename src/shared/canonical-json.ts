/**
 * The value with the keys of every object sorted, at every depth: what `JSON.stringify` then
 * writes the same whatever order the keys were built or read back in (jsonb keeps its own).
 */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}
