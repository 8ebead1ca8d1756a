// Pieces of request-target grammar every protocol shares: host[:port] authorities, path normalization, query split.
import { HoardError } from '../errors.ts';
import { canonicalHost } from './host-canonical.ts';

/** A host a client named (proxy mode, prefix mode): where to connect, and the canonical key it is cached under. */
export interface OriginRef {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** `scheme://host[:port]`, the default port omitted: one key for every spelling of the same origin. */
  readonly key: string;
}

const hostName = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ipv6 = /^\[[0-9a-f:.]+\]$/;

/** True when a first path segment reads as a host (prefix mode) rather than a name. */
export function looksLikeHost(segment: string): boolean {
  const host = segment.replace(/:\d+$/, '').toLowerCase();
  return host === 'localhost' || ipv6.test(host) || (host.includes('.') && hostName.test(host));
}

export function parseAuthority(authority: string, scheme: 'http' | 'https'): OriginRef {
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
  return { scheme, host, port, key };
}

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HoardError('HOARD_ERR_BAD_REQUEST', 'malformed percent-encoding in the request target');
  }
}

/** The target without its query and fragment, and the raw query (with its `?`, or '' when there is none). */
export function splitQuery(target: string): { path: string; query: string } {
  const cut = target.search(/[?#]/);
  if (cut === -1) return { path: target, query: '' };
  const hash = target.indexOf('#', cut);
  const query = target[cut] === '?' ? target.slice(cut, hash === -1 ? undefined : hash) : '';
  return { path: target.slice(0, cut), query };
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
