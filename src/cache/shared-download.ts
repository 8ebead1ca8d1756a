// One upstream download written once to the store and streamed to every client that asks, late joiners included.
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../clock.ts';
import { HoardError, isHoardError } from '../errors.ts';
import { publishStore } from '../events.ts';
import { downloadGarbage } from '../runtime/garbage-pacer.ts';
import type { BlobInfo, BlobWriter, ExpectedContent } from '../storage/blob-store.ts';
import type { CachedObject } from './cached-object.ts';
import { TransferRateWindow, type RateFloor } from './transfer-rate-policy.ts';

/** Bytes read from the temporary file per step when following a download. */
const followChunk = 256 * 1024;

/**
 * Upstream bytes held in memory, per download, once the disk is full and the download only relays:
 * the upstream is read no faster than the slowest client following it takes them.
 */
export const defaultRelayWindowBytes = 8 * 1024 * 1024;

/** Bounds on one download, so a hostile or broken upstream cannot fill the disk or hold a key forever. */
export interface DownloadLimits {
  /** `cache.maxObjectSize`: a larger Content-Length is refused before a byte is written, a longer body abandoned. */
  readonly maxObjectSize?: number | undefined;
  /** `upstream.minBytesPerSecond` over `upstream.slowWindowSeconds`: a slower upstream is abandoned. */
  readonly rateFloor?: RateFloor | undefined;
  /** How often the floor is checked; default a tenth of its window, at least 50 ms. */
  readonly rateCheckMs?: number | undefined;
}

export interface SharedDownloadOptions {
  readonly relayWindowBytes?: number | undefined;
  readonly limits?: DownloadLimits | undefined;
  /** Time for the rate floor; the check itself runs on a timer. */
  readonly clock?: Clock | undefined;
}

/**
 * The refusal of an upstream response whose Content-Length is above `cache.maxObjectSize`, before a
 * writer is opened; undefined when it may be fetched.
 */
export function refuseDeclaredSize(declared: number | undefined, limits: DownloadLimits | undefined, url: string): HoardError | undefined {
  const max = limits?.maxObjectSize;
  if (declared === undefined || max === undefined || declared <= max) return undefined;
  return new HoardError('HOARD_ERR_OBJECT_TOO_LARGE', `upstream ${url} offers ${declared} bytes, more than cache.maxObjectSize (${max} bytes)`, {
    detail: `the upstream object (${declared} bytes) is larger than this cache accepts (cache.maxObjectSize, ${max} bytes)`,
  });
}

export interface DownloadMeta {
  /** From upstream Content-Length; undefined when the upstream sent none. */
  readonly expectedSize: number | undefined;
  readonly lastModified: string | undefined;
  readonly upstreamEtag: string | undefined;
  readonly contentType: string | undefined;
}

/** How a download ends once its bytes are whole; see `SharedDownload.run`. */
export interface DownloadCommit {
  /** The size and digest the bytes must have: checked (`BlobWriter.seal`) before any client gets the last byte. */
  readonly expected?: ExpectedContent | undefined;
  /**
   * Holds the last byte until `store` has finished, not only until the bytes are verified: for bytes
   * that something else must judge (admission) or learn from before a client may act on them.
   */
  readonly holdUntilStored?: boolean | undefined;
  /** Makes the sealed bytes durable (`writer.commit`) and records them; resolves with the blob. */
  store(writer: BlobWriter, verified: BlobInfo): Promise<BlobInfo>;
}

/**
 * `verified`: every byte is in and checked, clients have the last byte, the durable commit is running.
 * `committed`: stored (and recorded by `store`). `relayed`: the body arrived whole but could not be
 * stored (disk full); it was passed through only. `unstored`: verified and sent, but `store` failed
 * after the release (disk full, I/O error); nothing is stored.
 */
type State =
  | { phase: 'running' }
  | { phase: 'verified'; info: BlobInfo }
  | { phase: 'committed'; info: BlobInfo }
  | { phase: 'relayed'; size: number }
  | { phase: 'unstored'; info: BlobInfo; error: Error }
  | { phase: 'failed'; error: Error };

/** Pass-through after the store refused a write: bytes from `base` on live only in this window. */
interface Relay {
  /** Bytes the writer holds (readable through readAt until abort); the window starts there. */
  readonly base: number;
  /** Chunks still needed by some follower, the first starting at `windowStart`. */
  chunks: Uint8Array[];
  windowStart: number;
  windowBytes: number;
  /** Offset just past the last relayed byte. */
  end: number;
}

/** Where one follower is; the relay window keeps every byte from the slowest one on. */
interface Cursor {
  position: number;
}

export class SharedDownload implements CachedObject {
  readonly key: string;
  readonly meta: DownloadMeta;
  readonly #writer: BlobWriter;
  #state: State = { phase: 'running' };
  readonly #waiters = new Set<() => void>();
  /**
   * Settles when the download has ended: committed (stored and recorded), relayed or unstored (sent but
   * not stored), or failed. Later than the last byte's release, which needs only the check. Never rejects.
   */
  readonly settled: Promise<State>;
  #settle!: (state: State) => void;
  #relay: Relay | undefined;
  readonly #relayWindowBytes: number;
  readonly #cursors = new Set<Cursor>();
  /** Wakes the upstream loop waiting for followers to make room in the relay window. */
  #roomWaiter: (() => void) | undefined;
  #writerReleased = false;
  readonly #limits: DownloadLimits;
  readonly #clock: Clock;
  /** Why the upstream was abandoned from outside the body loop (the rate floor); the loop throws it. */
  #abandoned: HoardError | undefined;

  constructor(key: string, writer: BlobWriter, meta: DownloadMeta, options: SharedDownloadOptions = {}) {
    this.key = key;
    this.#writer = writer;
    this.meta = meta;
    this.#relayWindowBytes = options.relayWindowBytes ?? defaultRelayWindowBytes;
    this.#limits = options.limits ?? {};
    this.#clock = options.clock ?? systemClock;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
  }

  /** Followers with an open stream. */
  get readers(): number {
    return this.#cursors.size;
  }
  /** True once the store refused the bytes and they are only passed through. */
  get relaying(): boolean {
    return this.#relay !== undefined;
  }
  /**
   * A relaying download keeps only a window of its bytes, so a new client cannot start from byte 0;
   * an unstored one gives its bytes up once its followers are done.
   */
  get joinable(): boolean {
    const phase = this.#state.phase;
    return this.#relay === undefined && (phase === 'running' || phase === 'verified' || phase === 'committed');
  }

  /** The checked size and digest, once every byte is in and verified (the last byte is then released). */
  get #verified(): BlobInfo | undefined {
    const state = this.#state;
    return state.phase === 'verified' || state.phase === 'committed' || state.phase === 'unstored' ? state.info : undefined;
  }

  get size(): number | undefined {
    if (this.#state.phase === 'relayed') return this.#state.size;
    return this.#verified?.size ?? this.meta.expectedSize;
  }
  get lastModified(): string | undefined {
    return this.meta.lastModified;
  }
  /** The bytes' digest once verified (stored, or being stored, under it unless `storeError`). */
  get digest(): string | undefined {
    return this.#verified?.digest;
  }
  get etag(): string | undefined {
    const info = this.#verified;
    return info === undefined ? undefined : etagFor(info.digest);
  }
  get contentType(): string | undefined {
    return this.meta.contentType;
  }
  /** Every byte is in and verified: a client joining now needs no upstream traffic. The store may still be committing. */
  get complete(): boolean {
    return this.#verified !== undefined;
  }
  /** Why verified bytes, already released to clients, could not be stored. */
  get storeError(): Error | undefined {
    return this.#state.phase === 'unstored' ? this.#state.error : undefined;
  }
  /** Bytes received so far (stored, or relayed once the disk is full). */
  get written(): number {
    return this.#relay?.end ?? this.#writer.written;
  }
  get failed(): Error | undefined {
    return this.#state.phase === 'failed' ? this.#state.error : undefined;
  }

  /**
   * Copies `body` into the writer, then seals it (the size and digest check of `commit.expected`) and
   * hands it to `commit.store` (durable commit, index entry). The last byte reaches clients once the
   * check has passed, while `store` is still running, unless `commit.holdUntilStored`. A failure before
   * that release aborts the writer and errors every follower; a failure of `store` after it leaves the
   * clients their verified bytes (readable from the writer until the last follower is done) and
   * ends the download `unstored`. The download does not depend on any client: a client hanging up only
   * ends its own stream.
   *
   * A full disk (HOARD_ERR_STORE_FULL from a write, or from the commit of a held download) is not a
   * failure: the download turns into a relay. What the writer accepted stays readable through it; later
   * upstream bytes are kept in a bounded in-memory window that the followers already attached read
   * from. Nothing is stored, the clients get the whole body, and the upstream is read at the pace of
   * the slowest of them.
   */
  async run(body: AsyncIterable<Uint8Array>, commit: DownloadCommit, mapError: (err: unknown) => Error): Promise<void> {
    try {
      const expected = this.meta.expectedSize;
      // A body is never read past the size announced for it (its Content-Length, or the size the index lists)
      // nor past cache.maxObjectSize: the chunk that would cross it is not written, and the upstream is dropped.
      const listed = commit.expected?.size;
      const announced = Math.min(expected ?? Number.POSITIVE_INFINITY, listed ?? Number.POSITIVE_INFINITY);
      const maxBytes = this.#limits.maxObjectSize ?? Number.POSITIVE_INFINITY;
      const stopWatching = this.#watchRate(body);
      try {
        for await (const chunk of body) {
          if (this.#abandoned !== undefined) throw this.#abandoned;
          const after = this.written + chunk.byteLength;
          if (after > announced) {
            const what = expected !== undefined && expected <= announced ? `its Content-Length of ${expected}` : `the ${announced} the index lists`;
            throw new HoardError('HOARD_ERR_SIZE_MISMATCH', `upstream sent more than ${what} bytes`);
          }
          if (after > maxBytes) {
            throw new HoardError('HOARD_ERR_OBJECT_TOO_LARGE', `upstream sent more than cache.maxObjectSize (${maxBytes} bytes) for ${this.key}`, {
              detail: `the upstream object is larger than this cache accepts (cache.maxObjectSize, ${maxBytes} bytes)`,
            });
          }
          downloadGarbage.note(chunk.byteLength);
          if (this.#relay === undefined) await this.#store(chunk);
          else await this.#relayChunk(chunk);
          this.#notify();
        }
        if (this.#abandoned !== undefined) throw this.#abandoned;
      } finally {
        stopWatching();
      }
      if (expected !== undefined && this.written !== expected) {
        throw new HoardError('HOARD_ERR_UPSTREAM_TRUNCATED', `upstream sent ${this.written} of ${expected} bytes`, {
          detail: 'upstream closed the connection early',
        });
      }
      if (this.#relay === undefined) {
        let released: BlobInfo | undefined;
        try {
          const verified = await this.#writer.seal(commit.expected);
          if (commit.holdUntilStored !== true) {
            released = verified;
            this.#state = { phase: 'verified', info: verified };
            this.#notify();
          }
          const info = await commit.store(this.#writer, verified);
          this.#finish({ phase: 'committed', info });
          publishStore({ state: 'writable' });
          return;
        } catch (err) {
          if (released !== undefined) {
            // The clients have (or are reading) bytes that passed the check: they keep them; only the storing failed.
            const error = mapError(err);
            if (isHoardError(error, 'HOARD_ERR_STORE_FULL')) publishStore({ state: 'full', detail: `${this.key}: ${error.message}` });
            this.#finish({ phase: 'unstored', info: released, error });
            this.#releaseWriterWhenUnread();
            return;
          }
          if (!isHoardError(err, 'HOARD_ERR_STORE_FULL')) throw err;
          this.#startRelay(err);
        }
      }
      this.#finish({ phase: 'relayed', size: this.written });
      this.#releaseWriterWhenUnread();
    } catch (err) {
      // A body destroyed by the rate floor may surface as the stream's own abort error: the floor's reason wins.
      const error = mapError(this.#abandoned ?? err);
      this.#writerReleased = true;
      await this.#writer.abort().catch(() => undefined);
      this.#finish({ phase: 'failed', error });
      if (body instanceof Readable) body.destroy();
    }
  }

  /**
   * Checks the rate floor on a timer while the body is read, and abandons an upstream below it: the body
   * is destroyed with the error, so the loop in `run` ends even while it waits for a chunk. A relaying
   * download reads upstream at its slowest client's pace, so the floor does not apply to it.
   */
  #watchRate(body: AsyncIterable<Uint8Array>): () => void {
    const floor = this.#limits.rateFloor;
    if (floor === undefined || floor.minBytesPerSecond <= 0) return () => undefined;
    const window = new TransferRateWindow(floor, this.#clock.now(), this.written);
    const every = this.#limits.rateCheckMs ?? Math.max(50, floor.windowMs / 10);
    const timer = setInterval(() => {
      if (this.#relay !== undefined || this.#abandoned !== undefined) return;
      const verdict = window.sample(this.#clock.now(), this.written);
      if (!verdict.slow) return;
      const seconds = Math.round(verdict.overMs / 100) / 10;
      this.#abandoned = new HoardError(
        'HOARD_ERR_UPSTREAM_TOO_SLOW',
        `upstream sent ${verdict.bytes} bytes of ${this.key} in ${seconds} s, below upstream.minBytesPerSecond (${floor.minBytesPerSecond}) over ${floor.windowMs / 1000} s`,
        { detail: 'upstream too slow' },
      );
      if (body instanceof Readable) body.destroy(this.#abandoned);
    }, every);
    timer.unref();
    return () => clearInterval(timer);
  }

  async #store(chunk: Uint8Array): Promise<void> {
    const before = this.#writer.written;
    try {
      await this.#writer.write(chunk);
    } catch (err) {
      if (!isHoardError(err, 'HOARD_ERR_STORE_FULL')) throw err;
      this.#startRelay(err);
      // A writer may refuse the chunk outright or accept it and report the failure later.
      if (this.#writer.written === before) await this.#relayChunk(chunk);
    }
  }

  #startRelay(cause: Error): void {
    const base = this.#writer.written;
    this.#relay = { base, chunks: [], windowStart: base, windowBytes: 0, end: base };
    publishStore({ state: 'full', detail: `${this.key}: ${cause.message}` });
  }

  async #relayChunk(chunk: Uint8Array): Promise<void> {
    const relay = this.#relay as Relay;
    relay.chunks.push(chunk);
    relay.windowBytes += chunk.byteLength;
    relay.end += chunk.byteLength;
    this.#notify();
    this.#trimWindow();
    // Bounded: wait for the slowest follower to take bytes before reading more from upstream.
    while (relay.windowBytes > this.#relayWindowBytes) {
      if (this.#cursors.size === 0) {
        throw new HoardError('HOARD_ERR_STORE_FULL', `the disk is full and no client is left to relay ${this.key} to`);
      }
      await new Promise<void>((resolve) => (this.#roomWaiter = resolve));
      this.#roomWaiter = undefined;
      this.#trimWindow();
    }
  }

  /** Drops window chunks every follower has passed. With no follower yet, the first one to come needs them all. */
  #trimWindow(): void {
    const relay = this.#relay;
    if (relay === undefined || this.#cursors.size === 0) return;
    let slowest = Number.POSITIVE_INFINITY;
    for (const cursor of this.#cursors) slowest = Math.min(slowest, cursor.position);
    for (let first = relay.chunks[0]; first !== undefined && relay.windowStart + first.byteLength <= slowest; first = relay.chunks[0]) {
      relay.chunks.shift();
      relay.windowStart += first.byteLength;
      relay.windowBytes -= first.byteLength;
    }
  }

  #followerMoved(): void {
    this.#roomWaiter?.();
  }

  /**
   * A relay's writer holds the first bytes, an unstored one all of them; it is aborted (its temporary
   * data deleted) once no follower reads them.
   */
  #releaseWriterWhenUnread(): void {
    if (this.#writerReleased || this.#cursors.size > 0) return;
    if (this.#state.phase !== 'relayed' && this.#state.phase !== 'unstored') return;
    this.#writerReleased = true;
    void this.#writer.abort().catch(() => undefined);
  }

  /** Bytes [position, position + length) as far as they have arrived, from the writer or the relay window. */
  async #readAt(position: number, length: number): Promise<Uint8Array> {
    const relay = this.#relay;
    if (relay === undefined || position < relay.base) {
      // A follower at the head takes the upstream chunk itself (no copy, no disk read); one behind reads.
      const held = relay === undefined ? this.#writer.peekAt?.(position, length) : undefined;
      if (held !== undefined) return held;
      const read = await this.#writer.readAt(position, relay === undefined ? length : Math.min(length, relay.base - position));
      // A fresh buffer per read, dead once sent: paced like the upstream's chunks, or a client behind the download leaves tens of MB for V8's external-memory trigger.
      downloadGarbage.note(read.byteLength);
      return read;
    }
    if (position < relay.windowStart) throw new HoardError('HOARD_ERR_STORE_IO', `bytes at ${position} of ${this.key} left the relay window`);
    let offset = relay.windowStart;
    for (const chunk of relay.chunks) {
      const chunkEnd = offset + chunk.byteLength;
      if (position < chunkEnd) return chunk.subarray(position - offset, Math.min(chunk.byteLength, position - offset + length));
      offset = chunkEnd;
    }
    return new Uint8Array(0);
  }

  #finish(state: State): void {
    this.#state = state;
    this.#settle(state);
    this.#notify();
  }

  #notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  stream(start: number, endInclusive: number | undefined): Readable {
    const end = endInclusive === undefined ? undefined : endInclusive + 1;
    const cursor: Cursor = { position: start };
    this.#cursors.add(cursor);
    let pulling = false;
    let wake: (() => void) | undefined;
    const readable = new Readable({
      highWaterMark: followChunk,
      read: () => {
        if (!pulling) void pull();
      },
      destroy: (err, callback) => {
        // Release the waiting pull loop so it sees the stream is gone and ends.
        if (wake) {
          this.#waiters.delete(wake);
          wake();
        }
        this.#cursors.delete(cursor);
        this.#followerMoved();
        this.#releaseWriterWhenUnread();
        callback(err);
      },
    });

    const pull = async (): Promise<void> => {
      pulling = true;
      try {
        // Each pass either pushes bytes, ends, fails or waits for the writer: never spins.
        while (!readable.destroyed) {
          const limit = end ?? Number.POSITIVE_INFINITY;
          const position = cursor.position;
          if (position >= limit) {
            readable.push(null);
            return;
          }
          // The object's last byte is held back until the seal has checked size and digest: a client
          // must never receive a complete-looking body that then turns out to be wrong.
          const whole = this.#state.phase !== 'running' && this.#state.phase !== 'failed';
          const available = whole ? this.written : Math.max(0, this.written - 1);
          if (position < available) {
            const bytes = await this.#readAt(position, Math.min(followChunk, available - position, limit - position));
            if (readable.destroyed) return;
            if (bytes.length === 0) throw new HoardError('HOARD_ERR_STORE_IO', `short read at ${position} of ${this.key}`);
            cursor.position += bytes.length;
            this.#followerMoved();
            if (!readable.push(bytes)) return;
            continue;
          }
          const state = this.#state;
          if (state.phase === 'failed') {
            readable.destroy(state.error);
            return;
          }
          if (state.phase !== 'running') {
            if (end === undefined) readable.push(null);
            else readable.destroy(new HoardError('HOARD_ERR_STORE_IO', `range end ${end} past size ${this.written}`));
            return;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            this.#waiters.add(resolve);
          });
          wake = undefined;
        }
      } catch (err) {
        readable.destroy(err instanceof Error ? err : new Error(String(err)));
      } finally {
        pulling = false;
      }
    };
    return readable;
  }
}

/** A writer for when the store cannot even open one (disk full): the download relays from its first byte. */
export function refusingWriter(error: Error): BlobWriter {
  return {
    written: 0,
    write: () => Promise.reject(error),
    readAt: () => Promise.resolve(new Uint8Array(0)),
    seal: () => Promise.reject(error),
    commit: () => Promise.reject(error),
    abort: () => Promise.resolve(),
  };
}

/** The client-facing strong validator of a stored blob. */
export function etagFor(digest: string): string {
  return `"${digest.slice(0, 32)}"`;
}
