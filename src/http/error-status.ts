// The only mapping from hoard error codes to HTTP statuses.
import type { ErrorCode } from '../errors.ts';

export const statusForCode: Record<ErrorCode, number> = {
  HOARD_ERR_BAD_REQUEST: 400,
  HOARD_ERR_PATH_TRAVERSAL: 400,
  HOARD_ERR_TARGET_TOO_LONG: 414,
  HOARD_ERR_METHOD_NOT_ALLOWED: 405,
  HOARD_ERR_CLIENT_NOT_ALLOWED: 403,
  HOARD_ERR_HOST_NOT_ALLOWED: 403,
  HOARD_ERR_UPSTREAM_DENIED: 403,
  HOARD_ERR_NOT_REPOSITORY_PATH: 403,
  HOARD_ERR_CONNECT_REFUSED: 403,
  HOARD_ERR_LOOP_DETECTED: 508,
  HOARD_ERR_UNKNOWN_BACKEND: 404,
  HOARD_ERR_UNKNOWN_IMAGE_UPSTREAM: 404,
  // OCI distribution spec, "Error Codes": NAME_INVALID, MANIFEST_INVALID and DIGEST_INVALID are 400, NAME_UNKNOWN 404, UNSUPPORTED 405.
  HOARD_ERR_OCI_NAME_INVALID: 400,
  HOARD_ERR_OCI_NAME_UNKNOWN: 404,
  // OCI distribution spec v1.1, "Error Codes": UNAUTHORIZED is 401, with a WWW-Authenticate challenge (RFC 9110 11.6.1).
  HOARD_ERR_OCI_UNAUTHORIZED: 401,
  HOARD_ERR_OCI_UNSUPPORTED: 405,
  // RFC 6585 4: 429 Too Many Requests, relayed with the upstream's Retry-After.
  HOARD_ERR_UPSTREAM_RATE_LIMITED: 429,
  // The client did nothing wrong and cannot fix it by authenticating to hoard: the upstream refused hoard's own credentials.
  HOARD_ERR_UPSTREAM_AUTH: 403,
  HOARD_ERR_UPSTREAM_UNREACHABLE: 502,
  HOARD_ERR_UPSTREAM_PROXY: 502,
  HOARD_ERR_UPSTREAM_TIMEOUT: 504,
  HOARD_ERR_UPSTREAM_STATUS: 502,
  HOARD_ERR_UPSTREAM_TRUNCATED: 502,
  HOARD_ERR_UPSTREAM_TLS: 502,
  // The client asked for something allowed; the upstream's answer pointed somewhere that is not.
  HOARD_ERR_REDIRECT_REFUSED: 502,
  // RFC 9110 15.6.5: the upstream did not deliver in time, as for a stall.
  HOARD_ERR_UPSTREAM_TOO_SLOW: 504,
  // RFC 9110 15.6.3: the request is fine (no 4xx fits) but the upstream's answer is one this cache will not take.
  HOARD_ERR_OBJECT_TOO_LARGE: 502,
  HOARD_ERR_SIZE_MISMATCH: 502,
  HOARD_ERR_DIGEST_MISMATCH: 502,
  HOARD_ERR_NOT_AUTHENTICATED: 403,
  // Not sent while the index is read in the background; 502 where it reaches a client: the upstream served it.
  HOARD_ERR_INDEX_TOO_LARGE: 502,
  // The upstream's answer is one hoard will not pass on as the stream's: RFC 9110 15.6.3.
  HOARD_ERR_STREAM_REFUSED: 502,
  HOARD_ERR_GENERATION_INCOMPLETE: 502,
  HOARD_ERR_STORE_FULL: 507,
  HOARD_ERR_STORE_IO: 500,
  HOARD_ERR_CONFIG: 500,
  // Never sent: a start-up failure.
  HOARD_ERR_TLS_CERTIFICATE: 500,
  HOARD_ERR_UNAUTHORIZED: 401,
  // RFC 9110 15.5.20: 421 Misdirected Request, the server will not produce an authoritative response for this target's authority.
  HOARD_ERR_ADMIN_HOST_NOT_ALLOWED: 421,
  // Never sent (the client is gone); 499 as nginx logs it.
  HOARD_ERR_CLIENT_GONE: 499,
  // Never sent either (the response had begun); 408 as for a client too slow to send its request.
  HOARD_ERR_CLIENT_TOO_SLOW: 408,
  HOARD_ERR_INTERNAL: 500,
};
