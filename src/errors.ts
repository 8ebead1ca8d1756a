// The one registry of hoard's error codes; HTTP statuses are chosen from these only at the HTTP edge.

export const errorCodes = {
  HOARD_ERR_BAD_REQUEST: 'The request is malformed (target, header or method).',
  HOARD_ERR_PATH_TRAVERSAL: 'The request target contains `..`, an encoded traversal or a NUL byte.',
  HOARD_ERR_TARGET_TOO_LONG: 'The request target is longer than hoard accepts.',
  HOARD_ERR_METHOD_NOT_ALLOWED: 'Only GET and HEAD are served.',
  HOARD_ERR_CLIENT_NOT_ALLOWED: 'The client address is outside the allowed networks.',
  HOARD_ERR_HOST_NOT_ALLOWED: 'The upstream host is not in the allowed list.',
  HOARD_ERR_UPSTREAM_DENIED:
    'The upstream host a client named resolves to an address in `deniedUpstreamNetworks` (by default loopback and link-local). The operator allows it by listing the host in `allowedHosts` or changing `deniedUpstreamNetworks`.',
  HOARD_ERR_NOT_REPOSITORY_PATH:
    'The path is not a file of an apt repository (or, under `/images/<name>/`, is a directory listing rather than a file of the stream), so hoard does not proxy it.',
  HOARD_ERR_CONNECT_REFUSED: 'CONNECT tunnels are not allowed to this host and port.',
  HOARD_ERR_LOOP_DETECTED: 'The request came back through hoard itself.',
  HOARD_ERR_UNKNOWN_BACKEND: 'No backend of that name is configured.',
  HOARD_ERR_UNKNOWN_IMAGE_UPSTREAM: 'No image upstream of that name is configured (`/images/<name>/...`).',
  HOARD_ERR_OCI_NAME_INVALID:
    "OCI: the repository name, tag or digest does not follow the distribution spec grammar (`NAME_INVALID`, `MANIFEST_INVALID` or `DIGEST_INVALID`), or a tag list's `n` is not a page size (`PAGINATION_NUMBER_INVALID`).",
  HOARD_ERR_OCI_NAME_UNKNOWN: 'OCI: no configured registry serves that repository name, or the path is not a pull endpoint (`NAME_UNKNOWN`).',
  HOARD_ERR_OCI_UNAUTHORIZED:
    'OCI: the registry is reached with credentials and is not `public`: only clients authenticating as one of `oci.users` may pull from it (`UNAUTHORIZED`).',
  HOARD_ERR_OCI_UNSUPPORTED: 'OCI: pushes and deletes are refused, the mirror is read-only (`UNSUPPORTED`).',
  HOARD_ERR_UPSTREAM_RATE_LIMITED:
    'The upstream answered 429 and nothing cached could serve; its `Retry-After` is passed on (`TOOMANYREQUESTS` for OCI clients).',
  HOARD_ERR_UPSTREAM_AUTH: 'The upstream registry refused the credentials or token hoard presented, or its token service failed (`DENIED` for OCI clients).',
  HOARD_ERR_UPSTREAM_UNREACHABLE: 'No upstream answered (connection refused, DNS failure, reset).',
  HOARD_ERR_UPSTREAM_PROXY:
    'The outbound proxy (`upstream.proxy`, HTTP_PROXY/HTTPS_PROXY) or the parent hoard (`upstream.parent`) could not be reached, refused the CONNECT, or asked for credentials (407).',
  HOARD_ERR_UPSTREAM_TIMEOUT: 'The upstream stalled past the configured timeout.',
  HOARD_ERR_UPSTREAM_STATUS: 'The upstream answered with an error status.',
  HOARD_ERR_UPSTREAM_TRUNCATED: 'The upstream closed the connection before the whole body arrived.',
  HOARD_ERR_UPSTREAM_TLS: 'The upstream TLS certificate could not be verified.',
  HOARD_ERR_REDIRECT_REFUSED: 'The upstream redirected to a destination the rules of the first request do not allow (host, network, path or https to http).',
  HOARD_ERR_UPSTREAM_TOO_SLOW:
    'The upstream sent the body slower than `upstream.minBytesPerSecond` over `upstream.slowWindowSeconds`; the download was abandoned.',
  HOARD_ERR_OBJECT_TOO_LARGE:
    'The upstream object is larger than `cache.maxObjectSize` (its Content-Length, or its body as it grew), or an OCI tag list page is over 2 MiB; nothing was stored.',
  HOARD_ERR_SIZE_MISMATCH: 'The downloaded body does not have the size that was expected.',
  HOARD_ERR_DIGEST_MISMATCH: 'The downloaded body does not have the hash that was expected.',
  HOARD_ERR_NOT_AUTHENTICATED:
    'Strict mode: the file is not covered by a signature from a trusted key (a signed Release for apt; a signed products file or SHA256SUMS for images).',
  HOARD_ERR_INDEX_TOO_LARGE: 'A Packages or Sources index passes a bound (expanded size, field, paragraph, or files listed), so hoard does not read it.',
  HOARD_ERR_STREAM_REFUSED:
    'Image streams: the metadata failed its signature check against the keyring configured for that upstream, and no earlier good copy is cached.',
  HOARD_ERR_GENERATION_INCOMPLETE: 'The upstream published a Release whose indices it does not serve yet (mirror mid-update), and no earlier copy is cached.',
  HOARD_ERR_STORE_FULL: 'The disk holding the store is full.',
  HOARD_ERR_STORE_IO: 'Reading or writing the store failed.',
  HOARD_ERR_CONFIG: 'The configuration is invalid.',
  HOARD_ERR_TLS_CERTIFICATE:
    "The HTTPS listener's certificate or key (`https.certFile`, `https.keyFile`, or the generated pair in `<dataDir>/tls/`) cannot be read, is not PEM, has expired, or the key does not match the certificate; hoard does not start.",
  HOARD_ERR_UNAUTHORIZED: 'An admin action needs a valid token.',
  HOARD_ERR_ADMIN_HOST_NOT_ALLOWED: 'The admin pages were asked for under a Host name that is not one of this cache (DNS rebinding defence; see admin.hosts).',
  HOARD_ERR_CLIENT_GONE: 'The client closed the connection before the response was complete.',
  HOARD_ERR_CLIENT_TOO_SLOW: 'The client took the response more slowly than the configured minimum rate, so hoard cut it.',
  HOARD_ERR_INTERNAL: 'An unexpected internal failure.',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class HoardError extends Error {
  readonly code: ErrorCode;
  /** Optional details safe to show a client (never paths on disk). */
  readonly detail: string | undefined;
  /** RFC 9110 10.2.3: seconds the client should wait before asking again (an upstream's 429), passed on as `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; detail?: string; retryAfterSeconds?: number | undefined } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HoardError';
    this.code = code;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isHoardError(err: unknown, code?: ErrorCode): err is HoardError {
  return err instanceof HoardError && (code === undefined || err.code === code);
}
