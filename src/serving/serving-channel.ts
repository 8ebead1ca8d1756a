// What the main thread and the serving threads say to each other: the internal socket's first line, the offload answer, the messages.

/**
 * Header a serving thread adds to a request it relays when it could send a stored object itself: the
 * main thread may then answer with an `Offload` instead of the bytes. Honoured only on the internal
 * socket, never from a client.
 */
export const offerHeader = 'x-hoard-offload-offer';
/** Header of the main thread's answer that is an `Offload` (its JSON, base64url: a HEAD answer has no body), not the client's response. */
export const offloadHeader = 'x-hoard-offload';
/**
 * The client a relayed request speaks for: `<thread> <family> <address> <port>`. Each client connection of a
 * serving thread has its own internal connection, so every request on one carries the same value.
 */
export const clientHeader = 'x-hoard-relayed-client';
/** The client's HTTP minor version (the relay itself always speaks HTTP/1.1). */
export const clientVersionHeader = 'x-hoard-client-http-minor';

/** Headers a client must never be able to send to the main thread through a serving thread. */
export const internalHeaders = new Set([offerHeader, offloadHeader, clientHeader, clientVersionHeader]);

export interface RelayedClient {
  readonly worker: number;
  readonly family: string;
  readonly address: string;
  readonly port: number;
}

export function formatClient(client: RelayedClient): string {
  return `${client.worker} ${client.family} ${client.address} ${client.port}`;
}

/** Parses a `clientHeader` value; undefined when it is not one. */
export function parseClient(value: string | string[] | undefined): RelayedClient | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+) (IPv4|IPv6) ([0-9A-Fa-f:.]{2,45}) (\d{1,5})$/.exec(value);
  if (!m) return undefined;
  return { worker: Number(m[1]), family: m[2] as string, address: m[3] as string, port: Number(m[4]) };
}

/** The main thread's decision that a serving thread sends a stored, verified object itself. */
export interface Offload {
  readonly id: number;
  readonly digest: string;
  readonly size: number;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  readonly contentType: string | undefined;
  /** Response headers besides the object's own (x-hoard-cache, via, the protocol's, nosniff), as the main thread would send them. */
  readonly headers: Record<string, string>;
  /** Present when the same request may be answered again without asking (see `Reuse`). */
  readonly reuse?: Reuse | undefined;
}

/**
 * A hit on an immutable object with nothing conditional about it (no warning, not tainted, vouched or
 * unverifiable): a serving thread may send it again for the same target and Host, without a relay, while the
 * main thread's epoch is unchanged and for at most `reuseMs` (src/http/hit-memo.ts). What the main thread needs to log and count the
 * request, and to record the access (eviction order), comes back in a `hit` message.
 */
export interface Reuse {
  readonly key: string;
  readonly upstream: string;
  readonly protocol: string;
  readonly item?: string | undefined;
}

/** Messages from a serving thread to the main thread. */
export type WorkerMessage =
  | { readonly type: 'listening' }
  | {
      readonly type: 'served';
      readonly id: number;
      readonly status: number;
      readonly bytes: number;
      readonly errorCode?: string;
      readonly errorMessage?: string;
    }
  /** The blob of an offload was gone: this offload is not counted; the thread relays the request again once `dropped` comes. */
  | { readonly type: 'handed-back'; readonly id: number; readonly digest: string }
  | { readonly type: 'flushed'; readonly seq: number; readonly counts: WorkerCounts }
  /** Requests answered from reused decisions, a batch per turn of the thread's loop: the main thread publishes their request events and records the accesses. */
  | { readonly type: 'hits'; readonly hits: readonly ReusedHit[] }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string; readonly fields: Record<string, unknown> };

/** A request a serving thread answered from a reused decision, as the main thread logs and counts it. */
export interface ReusedHit {
  readonly reuse: Reuse;
  readonly client: string;
  readonly method: string;
  readonly target: string;
  readonly status: number;
  readonly bytes: number;
  readonly durationMs: number;
  readonly errorCode?: string | undefined;
  readonly errorMessage?: string | undefined;
}

/** Messages from the main thread to a serving thread. */
export type MainMessage =
  | { readonly type: 'flush'; readonly seq: number }
  /** The entries naming a blob found gone are dropped: a request relayed now is a miss, fetched again. */
  | { readonly type: 'dropped'; readonly digest: string }
  | { readonly type: 'stop' };

/** What a serving thread counted itself. */
export interface WorkerCounts {
  /** Client requests it took. */
  readonly requests: number;
  /** Of those, answered from the store by this thread (offloads). */
  readonly served: number;
  /** Bytes of bodies it sent from the store. */
  readonly bytes: number;
  /** Client requests relayed whole to the main thread (misses, admin, refusals...). */
  readonly relayed: number;
  /** Of the hits, those answered from a reused decision, without asking the main thread. */
  readonly reused: number;
  /** CONNECT tunnels relayed. */
  readonly tunnels: number;
}

/** What a serving thread is started with (structured-cloned into it). */
export interface WorkerSettings {
  readonly worker: number;
  readonly host: string;
  readonly port: number;
  readonly socketPath: string;
  readonly dataDir: string;
  readonly allowedClients: readonly string[];
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly clientIdleTimeoutMs: number;
  readonly minSendBytesPerSecond: number;
  readonly slowClientWindowSeconds: number;
  /** One Int32 the main thread increments whenever a decision may have changed (an index write, a download's end). */
  readonly epoch: SharedArrayBuffer;
}
