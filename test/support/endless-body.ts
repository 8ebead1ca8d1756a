// An upstream body that never ends by itself, for tests of download bounds: bounded at `maxChunks` so a failing test still ends.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/** `state.pulled` counts the chunks the consumer took: a bound that works stops pulling early. */
export function endlessBody(chunkSize: number, maxChunks = 10_000): { stream: Readable; state: { pulled: number } } {
  const state = { pulled: 0 };
  const chunk = randomBytes(chunkSize);
  const stream = Readable.from(
    (function* () {
      for (; state.pulled < maxChunks;) {
        state.pulled += 1;
        yield chunk;
      }
    })(),
    { objectMode: false, highWaterMark: 1 },
  );
  return { stream, state };
}
