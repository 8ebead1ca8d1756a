// Maps the errors of the HTTP client (undici, node:net, node:tls) to hoard's error codes.
import { HoardError } from '../errors.ts';
import type { OutboundRoute } from './outbound-routes.ts';

const timeoutCodes = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const tlsCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'INVALID_CA',
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

const untrustedCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'INVALID_CA',
]);

/** What the operator can do about a failed TLS check; shown to clients in the one-line 502 body. */
function tlsHint(code: string): string {
  if (untrustedCodes.has(code)) return "no trusted CA signed its certificate (trusted: the system store, tls.extraCaFiles, the backend's caFile)";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'its certificate does not name this host';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'its certificate is outside its validity period (check the clocks)';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') return 'the upstream does not speak TLS on that port';
  return 'the upstream certificate was refused';
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** Turns any failure of an upstream exchange into a HoardError; `duringBody` marks a cut after headers. */
export function upstreamErrorFrom(err: unknown, url: string, duringBody = false): HoardError {
  if (err instanceof HoardError) return err;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined && timeoutCodes.has(code)) {
    return new HoardError('HOARD_ERR_UPSTREAM_TIMEOUT', `upstream ${url} stalled (${code})`, { cause: err, detail: 'upstream timed out' });
  }
  if (code !== undefined && (tlsCodes.has(code) || code.startsWith('ERR_SSL_'))) {
    // Never retried over plain http: a failed check is reported, with what to do about it.
    const origin = originOf(url);
    // Node suggests --use-system-ca for unknown issuers; hoard already trusts the system store, so that advice would mislead.
    const reason = message.replace(/;\s*if the root CA is installed locally.*$/s, '');
    return new HoardError('HOARD_ERR_UPSTREAM_TLS', `TLS check of ${url} failed: ${reason} (${code})`, {
      cause: err,
      detail: `TLS check of ${origin} failed: ${reason} (${code}); ${tlsHint(code)}`,
    });
  }
  if (duringBody) {
    return new HoardError('HOARD_ERR_UPSTREAM_TRUNCATED', `upstream ${url} broke off the body: ${message}`, {
      cause: err,
      detail: 'upstream closed the connection early',
    });
  }
  return new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', `upstream ${url} unreachable: ${message}${code ? ` (${code})` : ''}`, {
    cause: err,
    detail: 'upstream unreachable',
  });
}

function errorCode(err: unknown): string | undefined {
  let cur: unknown = err;
  // undici wraps socket and TLS errors; the useful code is often on the cause.
  for (let depth = 0; depth < 4 && cur !== null && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET' && code !== 'UND_ERR_CONNECT') return code;
    if (typeof code === 'string' && (cur as { cause?: unknown }).cause === undefined) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Failures that can only be the proxy's or the parent's: hoard connects to nothing else on that route. */
const proxyConnectCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

/**
 * Like upstreamErrorFrom, for a request sent through the outbound proxy or to the parent: not reaching the
 * proxy, a refused CONNECT and a 407 are HOARD_ERR_UPSTREAM_PROXY, naming the proxy without its credentials.
 * What happens past the proxy (TLS with the destination, a stall, a cut body) keeps its own code.
 */
export function proxyErrorFrom(err: unknown, url: string, route: Exclude<OutboundRoute, { kind: 'direct' }>): HoardError {
  if (err instanceof HoardError) return err;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const what = route.kind === 'parent' ? `parent ${route.label}` : `proxy ${route.label}`;
  let why: string | undefined;
  if (code !== undefined && proxyConnectCodes.has(code)) why = `${what} unreachable (${code})`;
  // undici's words for a CONNECT answered with anything but 200, and for a 407 to an absolute-form request.
  const refused = /Proxy response \((\d{3})\)/.exec(message);
  if (refused) why = `${what} refused CONNECT to ${originOf(url)} with ${refused[1]}`;
  if (/Proxy Authentication Required/.test(message)) why = `${what} asks for credentials (407): check the user and password in the proxy URL`;
  if (why === undefined) {
    // Past the proxy, or not clearly the proxy's: the upstream's code, the route named for whoever reads the log.
    const error = upstreamErrorFrom(err, url);
    return new HoardError(error.code, `${error.message} (through ${what})`, { cause: err, ...(error.detail === undefined ? {} : { detail: error.detail }) });
  }
  return new HoardError('HOARD_ERR_UPSTREAM_PROXY', `${why}, asked for ${url}`, { cause: err, detail: why });
}
