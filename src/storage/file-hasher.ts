// One hashing thread for the whole process: the SHA-256 of large temp files, read back from the page cache as their bytes land.
import { extname } from 'node:path';
import { Worker } from 'node:worker_threads';

export type HashRequest =
  | { readonly op: 'start'; readonly id: number; readonly fd: number }
  | { readonly op: 'landed' | 'digest'; readonly id: number; readonly end: number }
  | { readonly op: 'cancel'; readonly id: number };

export type HashReply =
  | { readonly op: 'digest'; readonly id: number; readonly digest: string }
  | { readonly op: 'failed'; readonly id: number; readonly message: string }
  | { readonly op: 'cancelled'; readonly id: number };

/**
 * The thread is ended once it has had no job for this long, so an idle cache does not keep its isolate
 * (about 5 MB resident) around; starting it again costs some 30 ms, next to a download of several MB.
 */
const idleMs = 10_000;

/** A hashing of one file: bytes are reported as they land, the digest asked for once all have. */
export interface FileHashJob {
  /** Bytes [0, end) are in the file: the thread may hash them. */
  landed(end: number): void;
  /** The SHA-256 (hex) of bytes [0, end), every one of them in the file by now; rejects when the thread could not read them. */
  digest(end: number): Promise<string>;
  /** Resolves once the thread no longer reads the file (its descriptor may then be closed); never rejects. */
  cancel(): Promise<void>;
}

interface Pending {
  resolve(value: string | undefined): void;
  reject(err: Error): void;
}

/**
 * Moves SHA-256 off the thread that relays downloads: on the bench's cold 200 MB download it was about a
 * fifth of that thread's time (docs/performance.md, "The cold byte path"). The thread reads the temp
 * file through the main thread's descriptor (threads share them), so no byte is copied between threads;
 * the caller keeps the descriptor open until `digest` or `cancel` has settled.
 */
export class FileHasher {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #jobs = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  start(fd: number): FileHashJob {
    const worker = this.#thread();
    const id = this.#nextId++;
    this.#jobs += 1;
    clearTimeout(this.#idleTimer);
    worker.postMessage({ op: 'start', id, fd } satisfies HashRequest);
    let ended: Promise<string | undefined> | undefined;
    const end = (request: HashRequest): Promise<string | undefined> => {
      if (ended !== undefined) return ended;
      ended = new Promise<string | undefined>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject });
        // A thread that died already took its pending jobs with it: this one fails the same way.
        if (this.#worker !== worker) {
          this.#pending.delete(id);
          reject(new Error('the hashing thread exited'));
          return;
        }
        worker.postMessage(request);
      }).finally(() => this.#jobEnded());
      return ended;
    };
    return {
      landed: (landedEnd) => {
        if (ended === undefined && this.#worker === worker) worker.postMessage({ op: 'landed', id, end: landedEnd } satisfies HashRequest);
      },
      digest: async (digestEnd) => {
        const digest = await end({ op: 'digest', id, end: digestEnd });
        if (digest === undefined) throw new Error('the hashing was cancelled');
        return digest;
      },
      cancel: () =>
        end({ op: 'cancel', id }).then(
          () => undefined,
          () => undefined,
        ),
    };
  }

  #jobEnded(): void {
    this.#jobs -= 1;
    if (this.#jobs > 0 || this.#worker === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      const worker = this.#worker;
      this.#worker = undefined;
      void worker?.terminate();
    }, idleMs);
    this.#idleTimer.unref();
  }

  #thread(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    // The sources run as .ts, the build as .js: the worker file sits beside this one either way.
    const worker = new Worker(new URL(`./file-hash-worker${extname(import.meta.url)}`, import.meta.url), {
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    // Never what keeps the process alive: a job in flight is awaited by someone who does.
    worker.unref();
    worker.on('message', (reply: HashReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.op === 'digest') pending.resolve(reply.digest);
      else if (reply.op === 'cancelled') pending.resolve(undefined);
      else pending.reject(new Error(reply.message));
    });
    const died = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id);
        pending.reject(err);
      }
    };
    worker.on('error', died);
    worker.on('exit', () => died(new Error('the hashing thread exited')));
    this.#worker = worker;
    return worker;
  }
}

/** The process's one hashing thread, started at the first large download. */
export const fileHasher = new FileHasher();
