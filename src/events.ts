// Observation points (node:diagnostics_channel): the core publishes, admin/ and logging subscribe.
import diagnosticsChannel from 'node:diagnostics_channel';

/** One client request, published when its response has finished (or the client went away). */
export interface RequestEvent {
  client: string;
  method: string;
  target: string;
  /** hit | miss | revalidated | stale | coalesced | passthrough | refused | error | admin | not-found */
  result: string;
  status: number;
  bytes: number;
  durationMs: number;
  upstream?: string | undefined;
  /** The protocol that claimed the request (`apt`, ...); absent for admin pages, refusals before routing and tunnels. */
  protocol?: string | undefined;
  /** What the protocol calls the requested file when it is an item worth listing (a package file name), for the dashboard. */
  item?: string | undefined;
  errorCode?: string | undefined;
}

/**
 * One CONNECT tunnel: `open` when the destination answered and the client got its 200, `close` when
 * both sides are gone (with the bytes each way), `failed` when the destination could not be reached,
 * `refused` when the destination is not in connect.allow. Tunnels bypass the cache: bytes are not hits.
 */
export interface TunnelEvent {
  phase: 'open' | 'close' | 'failed' | 'refused';
  client: string;
  /** `host:port` as the client asked for it. */
  target: string;
  /** Client to destination. */
  bytesUp: number;
  /** Destination to client. */
  bytesDown: number;
  /** Since the CONNECT arrived. */
  durationMs: number;
  errorCode?: string | undefined;
  error?: string | undefined;
}

/** One upstream exchange (headers received or failed). */
export interface UpstreamEvent {
  upstream: string;
  url: string;
  method: string;
  status?: number | undefined;
  /** Time to response headers. */
  durationMs: number;
  errorCode?: string | undefined;
  error?: string | undefined;
}

export interface DownloadEvent {
  key: string;
  phase: 'start' | 'end' | 'fail';
  bytes: number;
  expectedBytes?: number | undefined;
  error?: string | undefined;
  errorCode?: string | undefined;
}

export interface VerificationEvent {
  upstream: string;
  path: string;
  /**
   * What failed: size, digest, signature, release-format, incomplete-generation, or index-bound (a
   * Packages or Sources index passed a bound of HOARD_ERR_INDEX_TOO_LARGE and was not read).
   */
  failure: string;
  detail: string;
}

export interface MirrorHealthEvent {
  mirror: string;
  healthy: boolean;
  error?: string | undefined;
}

/** Objects removed from the store by eviction (disk cap), garbage collection or an admin action. */
export interface EvictionEvent {
  /** Why: unreferenced (no cached index lists it), lru (least recently used, over the cap), orphan (no entry), admin. */
  reason: 'unreferenced' | 'lru' | 'orphan' | 'admin';
  digest: string;
  bytes: number;
  /** Cache keys that pointed at the blob. */
  keys: string[];
}

/** The store could not take a write (disk full) or takes writes again. */
export interface StoreEvent {
  state: 'full' | 'writable';
  detail?: string | undefined;
}

export const channels = {
  tunnel: diagnosticsChannel.channel('hoard:tunnel'),
  request: diagnosticsChannel.channel('hoard:request'),
  upstream: diagnosticsChannel.channel('hoard:upstream'),
  download: diagnosticsChannel.channel('hoard:download'),
  verification: diagnosticsChannel.channel('hoard:verification'),
  mirrorHealth: diagnosticsChannel.channel('hoard:mirror-health'),
  eviction: diagnosticsChannel.channel('hoard:eviction'),
  store: diagnosticsChannel.channel('hoard:store'),
};

export function publishRequest(event: RequestEvent): void {
  if (channels.request.hasSubscribers) channels.request.publish(event);
}
export function publishTunnel(event: TunnelEvent): void {
  if (channels.tunnel.hasSubscribers) channels.tunnel.publish(event);
}
export function publishUpstream(event: UpstreamEvent): void {
  if (channels.upstream.hasSubscribers) channels.upstream.publish(event);
}
export function publishDownload(event: DownloadEvent): void {
  if (channels.download.hasSubscribers) channels.download.publish(event);
}
export function publishVerification(event: VerificationEvent): void {
  if (channels.verification.hasSubscribers) channels.verification.publish(event);
}
export function publishMirrorHealth(event: MirrorHealthEvent): void {
  if (channels.mirrorHealth.hasSubscribers) channels.mirrorHealth.publish(event);
}
export function publishEviction(event: EvictionEvent): void {
  if (channels.eviction.hasSubscribers) channels.eviction.publish(event);
}
export function publishStore(event: StoreEvent): void {
  if (channels.store.hasSubscribers) channels.store.publish(event);
}
