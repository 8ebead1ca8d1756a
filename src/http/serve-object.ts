// Writes a cached object to a client: conditional requests (304), single ranges (206/416), HEAD, streaming.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { CachedObject } from '../cache/cached-object.ts';

export interface ServeResult {
  status: number;
  bytes: number;
  /** Set when the body could not be delivered whole (client gone, upstream cut). */
  error?: Error | undefined;
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * RFC 9110 14.2: a single `bytes=` range. Multiple ranges and unknown units are answered with the
 * whole representation (allowed: a server may ignore Range).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [first, last] = [m[1] as string, m[2] as string];
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || (last !== '' && Number(last) < start)) return 'unsatisfiable';
  return { start, end };
}

/** RFC 9110 13.1.2 / 13.1.3: If-None-Match wins over If-Modified-Since. */
export function notModified(req: IncomingMessage, object: CachedObject): boolean {
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    if (object.etag === undefined) return false;
    const tags = ifNoneMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
    return tags.includes('*') || tags.includes(object.etag);
  }
  const ifModifiedSince = req.headers['if-modified-since'];
  if (ifModifiedSince !== undefined && object.lastModified !== undefined) {
    const since = Date.parse(ifModifiedSince);
    const modified = Date.parse(object.lastModified);
    return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
  }
  return false;
}

/** RFC 9110 13.1.5: a Range is honoured only if If-Range still matches the current representation. */
function ifRangeMatches(req: IncomingMessage, object: CachedObject): boolean {
  const ifRange = req.headers['if-range'];
  if (typeof ifRange !== 'string') return true;
  if (ifRange.startsWith('"')) return object.etag !== undefined && ifRange === object.etag;
  return object.lastModified !== undefined && Date.parse(ifRange) === Date.parse(object.lastModified);
}

export async function serveObject(req: IncomingMessage, res: ServerResponse, object: CachedObject, extraHeaders: Record<string, string>): Promise<ServeResult> {
  for (const [name, value] of Object.entries(extraHeaders)) res.setHeader(name, value);
  if (object.lastModified !== undefined) res.setHeader('last-modified', object.lastModified);
  if (object.etag !== undefined) res.setHeader('etag', object.etag);
  res.setHeader('content-type', object.contentType ?? 'application/octet-stream');

  if (notModified(req, object)) {
    res.statusCode = 304;
    res.end();
    return { status: 304, bytes: 0 };
  }

  const size = object.size;
  let start = 0;
  let end: number | undefined = size === undefined ? undefined : size - 1;
  res.statusCode = 200;
  if (size !== undefined) {
    res.setHeader('accept-ranges', 'bytes');
    const range = ifRangeMatches(req, object) ? parseRange(req.headers.range, size) : undefined;
    if (range === 'unsatisfiable') {
      res.statusCode = 416;
      res.setHeader('content-range', `bytes */${size}`);
      res.setHeader('content-length', 0);
      res.end();
      return { status: 416, bytes: 0 };
    }
    if (range) {
      ({ start, end } = range);
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${end}/${size}`);
    }
    res.setHeader('content-length', (end as number) - start + 1);
  }

  if (req.method === 'HEAD' || (end !== undefined && end < start)) {
    res.end();
    return { status: res.statusCode, bytes: 0 };
  }
  const body = object.stream(start, end);
  try {
    await pipeline(body, res);
    return { status: res.statusCode, bytes: (end ?? start - 1) - start + 1 };
  } catch (err) {
    // The socket is destroyed by pipeline: the client sees a body shorter than Content-Length, never a whole wrong one.
    return { status: res.statusCode, bytes: res.writableLength, error: err as Error };
  }
}
