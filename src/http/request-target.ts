// Parses a request target into (upstream, path): proxy mode, /host/path prefix mode, named backends, HTTPS///.
import { HoardError } from '../errors.ts';
import { canonicalHost } from './host-canonical.ts';

export type UpstreamRef =
  /** A host reached directly: proxy mode (absolute URI) or prefix mode (/host[:port]/path). */
  | { kind: 'origin'; scheme: 'http' | 'https'; host: string; port: number; key: string }
  /** A configured backend name mapping to an ordered list of mirrors. */
  | { kind: 'backend'; name: string; key: string };

export interface ParsedTarget {
  upstream: UpstreamRef;
  /** Decoded, normalized path on the upstream, starting with `/`. */
  path: string;
  mode: 'proxy' | 'prefix' | 'backend';
}

export interface TargetRules {
  backends: ReadonlySet<string>;
  maxTargetLength: number;
}

/**
 * apt-cacher-ng's convention for HTTPS repositories through a plain-HTTP cache: the scheme is
 * written as a first path segment `HTTPS` followed by `///` (`/HTTPS///host/path`).
 */
const httpsMarker = /^\/HTTPS\/\/\//i;

export function parseRequestTarget(rawTarget: string, rules: TargetRules): ParsedTarget {
  if (rawTarget.length > rules.maxTargetLength) {
    throw new HoardError('HOARD_ERR_TARGET_TOO_LONG', `request target is ${rawTarget.length} bytes, the limit is ${rules.maxTargetLength}`);
  }
  // RFC 9112 3.2.2: absolute-form is what clients send to a proxy.
  const absolute = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(rawTarget);
  if (absolute) {
    const scheme = (absolute[1] as string).toLowerCase() as 'http' | 'https';
    const authority = absolute[2] as string;
    const rest = stripQuery(absolute[3] as string);
    // Proxy-mode spelling of the HTTPS/// convention: http://HTTPS///host/path.
    if (scheme === 'http' && authority.toUpperCase() === 'HTTPS' && rest.startsWith('///')) {
      return hostPrefixed(rest.slice(2), 'https', 'proxy');
    }
    const upstream = parseAuthority(authority, scheme);
    return { upstream, path: normalizePath(rest === '' ? '/' : rest), mode: 'proxy' };
  }
  if (!rawTarget.startsWith('/')) {
    throw new HoardError('HOARD_ERR_BAD_REQUEST', 'request target must be an absolute path or an absolute http:// URI');
  }
  const target = stripQuery(rawTarget);
  if (httpsMarker.test(target)) return hostPrefixed(target.slice('/HTTPS//'.length), 'https', 'prefix');

  const slash = target.indexOf('/', 1);
  const first = decodeSegment(slash === -1 ? target.slice(1) : target.slice(1, slash));
  const rest = slash === -1 ? '/' : target.slice(slash);
  if (rules.backends.has(first)) {
    return { upstream: { kind: 'backend', name: first, key: `backend:${first}` }, path: normalizePath(rest), mode: 'backend' };
  }
  if (looksLikeHost(first)) return hostPrefixed(target, 'http', 'prefix');
  throw new HoardError('HOARD_ERR_UNKNOWN_BACKEND', `"${first}" is neither a configured backend nor a host name`, {
    detail: `no backend named "${first}"; use /<host>/<path> or configure a backend`,
  });
}

function hostPrefixed(target: string, scheme: 'http' | 'https', mode: 'proxy' | 'prefix'): ParsedTarget {
  const slash = target.indexOf('/', 1);
  const authority = slash === -1 ? target.slice(1) : target.slice(1, slash);
  const rest = slash === -1 ? '/' : target.slice(slash);
  return { upstream: parseAuthority(decodeSegment(authority), scheme), path: normalizePath(rest), mode };
}

function stripQuery(target: string): string {
  const cut = target.search(/[?#]/);
  return cut === -1 ? target : target.slice(0, cut);
}

const hostName = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ipv6 = /^\[[0-9a-f:.]+\]$/;

function looksLikeHost(segment: string): boolean {
  const host = segment.replace(/:\d+$/, '').toLowerCase();
  return host === 'localhost' || ipv6.test(host) || (host.includes('.') && hostName.test(host));
}

export function parseAuthority(authority: string, scheme: 'http' | 'https'): UpstreamRef {
  if (authority.includes('@')) throw new HoardError('HOARD_ERR_BAD_REQUEST', 'credentials in the request target are not accepted');
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(authority);
  const host = canonicalHost(m?.[1]?.toLowerCase());
  if (!m || host === undefined || !(hostName.test(host) || ipv6.test(host))) {
    throw new HoardError('HOARD_ERR_BAD_REQUEST', `"${authority}" is not a valid host[:port]`);
  }
  const defaultPort = scheme === 'https' ? 443 : 80;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) throw new HoardError('HOARD_ERR_BAD_REQUEST', `port ${port} is out of range`);
  const key = `${scheme}://${host}${port === defaultPort ? '' : `:${port}`}`;
  return { kind: 'origin', scheme, host, port, key };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HoardError('HOARD_ERR_BAD_REQUEST', 'malformed percent-encoding in the request target');
  }
}

/**
 * Decodes and normalizes a path: collapses repeated slashes and `.` segments, refuses `..` (also when
 * percent-encoded), NUL and control bytes and backslashes, so no spelling can escape a repository or the store.
 */
export function normalizePath(raw: string): string {
  const decoded = decodeSegment(raw);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(decoded)) throw new HoardError('HOARD_ERR_PATH_TRAVERSAL', 'control characters in the path');
  if (decoded.includes('\\')) throw new HoardError('HOARD_ERR_PATH_TRAVERSAL', 'backslash in the path');
  // `.` segments are harmless (apt writes flat repositories as `deb uri ./`, asking `/repo/./Packages`);
  // `..` could climb out of a repository, so it is refused rather than resolved.
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw new HoardError('HOARD_ERR_PATH_TRAVERSAL', 'dot-dot segments in the path');
  return `/${segments.join('/')}${decoded.endsWith('/') && segments.length > 0 ? '/' : ''}`;
}
