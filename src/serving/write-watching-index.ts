// A MetadataIndex wrapper that reports every entry written or deleted: reused hit decisions of serving threads end then.
import { ForwardingMetadataIndex } from '../storage/forwarding-metadata-index.ts';
import type { MetadataIndex, ObjectEntry } from '../storage/metadata-index.ts';

/**
 * Reads pass straight through; `put` and `delete` call `onWrite` once done (an entry replaced by other bytes,
 * evicted, collected or dropped changes what a hit on its key may answer). Access times and validation marks do
 * not: they change no answer a serving thread may reuse (immutable objects only).
 */
export class WriteWatchingIndex extends ForwardingMetadataIndex {
  readonly #onWrite: () => void;

  constructor(inner: MetadataIndex, onWrite: () => void) {
    super(inner);
    this.#onWrite = onWrite;
  }

  override put(entry: ObjectEntry): void {
    this.inner.put(entry);
    this.#onWrite();
  }
  override delete(key: string): void {
    this.inner.delete(key);
    this.#onWrite();
  }
}
