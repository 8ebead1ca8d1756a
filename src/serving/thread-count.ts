// How many serving threads `server.threads` asks for: its own module, so that a process without them loads none of src/serving/.
import { availableParallelism } from 'node:os';

/** Serving threads besides the main thread: `auto` is one per core in all (the main thread counts as one). */
export function servingThreadCount(setting: 'auto' | number, cores = availableParallelism()): number {
  return setting === 'auto' ? Math.max(0, cores - 1) : setting;
}
