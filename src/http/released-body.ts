import { Readable } from 'node:stream';

/**
 * A response body streamed from `chunks` that calls `release` as its last chunk is taken ('end'),
 * before the response finishes, so the caller's next request never finds what this one held still
 * held; or when the body stops short ('close'). `release` must do nothing when called again.
 */
export function releasedBody(chunks: AsyncIterable<string>, release: () => void): Readable {
  return Readable.from(chunks).once('end', release).once('close', release);
}
