/**
 * What the events an audit writer holds take of the heap, by `heldBytes`: counted as each is
 * recorded, given back as each is written or logged as lost.
 */
export class HeldBytes {
  readonly #sizes = new WeakMap<object, number>();
  #total = 0;

  get total(): number {
    return this.#total;
  }

  add(event: object): void {
    const bytes = heldBytes(event);
    this.#sizes.set(event, bytes);
    this.#total += bytes;
  }

  release(events: readonly object[]): void {
    for (const event of events) {
      this.#total -= this.#sizes.get(event) ?? 0;
      this.#sizes.delete(event);
    }
  }
}

/**
 * About what a prepared event takes of the heap, erring high: each string 16 bytes and two a
 * character, each other value 16, each object or array 32 and 8 for each entry. A profile read of
 * two fields (`test/audit/audit-fixtures.ts`) counts 1,124 bytes, and takes some 875.
 */
function heldBytes(value: unknown): number {
  if (typeof value === 'string') return 16 + 2 * value.length;
  if (value === null || typeof value !== 'object') return 16;
  if (value instanceof Date) return 48;
  let bytes = 32;
  if (Array.isArray(value)) for (const item of value) bytes += 8 + heldBytes(item);
  else for (const key in value) bytes += 8 + heldBytes((value as Record<string, unknown>)[key]);
  return bytes;
}
