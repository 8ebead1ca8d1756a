// apt-cacher-ng style request targets: proxy mode, /host/path prefix mode, named backends, HTTPS///.
import { HoardError } from '../../errors.ts';
import { decodeSegment, looksLikeHost, normalizePath, parseAuthority, splitQuery, type OriginRef } from '../target-grammar.ts';

export type UpstreamRef =
  /** A host reached directly: proxy mode (absolute URI) or prefix mode (/host[:port]/path). */
  | ({ kind: 'origin' } & OriginRef)
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

/** apt sends no query; one is dropped (it is never part of a repository file's name). */
export function parseRequestTarget(rawTarget: string, rules: TargetRules): ParsedTarget {
  if (rawTarget.length > rules.maxTargetLength) {
    throw new HoardError('HOARD_ERR_TARGET_TOO_LONG', `request target is ${rawTarget.length} bytes, the limit is ${rules.maxTargetLength}`);
  }
  // RFC 9112 3.2.2: absolute-form is what clients send to a proxy.
  const absolute = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(rawTarget);
  if (absolute) {
    const scheme = (absolute[1] as string).toLowerCase() as 'http' | 'https';
    const authority = absolute[2] as string;
    const rest = splitQuery(absolute[3] as string).path;
    // Proxy-mode spelling of the HTTPS/// convention: http://HTTPS///host/path.
    if (scheme === 'http' && authority.toUpperCase() === 'HTTPS' && rest.startsWith('///')) {
      return hostPrefixed(rest.slice(2), 'https', 'proxy');
    }
    return { upstream: origin(parseAuthority(authority, scheme)), path: normalizePath(rest === '' ? '/' : rest), mode: 'proxy' };
  }
  if (!rawTarget.startsWith('/')) {
    throw new HoardError('HOARD_ERR_BAD_REQUEST', 'request target must be an absolute path or an absolute http:// URI');
  }
  const target = splitQuery(rawTarget).path;
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
  return { upstream: origin(parseAuthority(decodeSegment(authority), scheme)), path: normalizePath(rest), mode };
}

function origin(ref: OriginRef): UpstreamRef {
  return { kind: 'origin', ...ref };
}
