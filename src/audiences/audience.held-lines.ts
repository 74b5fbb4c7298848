import pLimit from 'p-limit';
import { RateLimitedError } from '../shared/errors.js';

/** Seconds an export refused for want of room asks its caller to wait before asking again. */
const HELD_LINES_RETRY_AFTER_SECONDS = 5;

/** The refusal of an export begun while the instance holds as many exports' lines as it may. */
export class HeldLinesFullError extends RateLimitedError {
  constructor() {
    super(HELD_LINES_RETRY_AFTER_SECONDS, `Audience exports hold as much as this instance keeps in memory; retry after ${HELD_LINES_RETRY_AFTER_SECONDS} s`);
  }
}

/**
 * The bytes of audience exports' lines an instance holds, read and not yet taken by their readers
 * (each character counted once for each copy of it held), against a bound. A member writes their
 * own preferences and address, so a batch of members is not bounded by its count alone: 3,000
 * members with full preferences are 12 MB of lines, held as rows, as a batch's text and as the
 * bytes written, and eight exports of them, none read, ended a hub given a heap of 128 MiB. An
 * export begins only while the instance holds less than `bound` (`begin`), and reads batches ahead
 * of its reader only then (`full`): past it, each running export reads a batch when its reader has
 * taken the one before. Exports begin one at a time, each once the first batch of the one before
 * is counted, so that many begun at once are not all let in before any has read. Make one per
 * instance.
 */
export function holdLines(bound: number) {
  let held = 0;
  const beginning = pLimit(1);
  return {
    full: () => held >= bound,
    /** Reads an export's first batch, which counts what it holds; @throws HeldLinesFullError while the lines are full. */
    begin: <T>(read: () => Promise<T>): Promise<T> =>
      beginning(() => {
        if (held >= bound) throw new HeldLinesFullError();
        return read();
      }),
    /** Counts `bytes` held; the release frees them once however often it is called. */
    hold(bytes: number): () => void {
      held += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held -= bytes;
      };
    },
  };
}

export type HeldLines = ReturnType<typeof holdLines>;
