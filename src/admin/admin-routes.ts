// Routes under the admin prefix (default /_hoard): dashboard, stats JSON, Prometheus metrics, health, and token-guarded actions.
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { RemovalReport } from '../cache/store-janitor.ts';
import { HoardError } from '../errors.ts';
import { nosniffHeaders } from '../http/security-headers.ts';
import type { AdminHostPolicy } from './admin-host-policy.ts';
import { dashboardCsp, dashboardPage } from './dashboard-page.ts';
import { maxUpstreamsListed, type MetricsCollector } from './metrics-collector.ts';

export interface ImportProgress {
  readonly done: number;
  readonly total: number;
  readonly file: string;
  readonly outcome: string;
}

/** What an admin may trigger; each needs the configured token. */
export interface AdminActions {
  gc(dryRun: boolean): Promise<RemovalReport>;
  evict(target: string): Promise<RemovalReport>;
  /** Stores the .deb files of `dir` that a cached index lists; reports each file as it goes. */
  importDebs(dir: string, progress: (p: ImportProgress) => void): Promise<Record<string, unknown>>;
}

export interface AdminRoutesOptions {
  prefix: string;
  version: string;
  /** Absent: actions are refused (403) until admin.token is configured. */
  token: string | undefined;
  collector: MetricsCollector;
  actions: AdminActions;
  /** Which Host values are answered; the rest get 421. */
  hosts: AdminHostPolicy;
  /** The HTTPS listener, when one is up: its port and certificate fingerprint, for clients that pin it. */
  https?: (() => { port: number; fingerprint256: string } | undefined) | undefined;
  /** Sections added to stats.json (the serving threads' figures). */
  extraStats?: (() => Record<string, unknown>) | undefined;
  /** Awaited before any admin answer: the serving threads report what they finished, so the figures include it. */
  beforeAnswer?: (() => Promise<void>) | undefined;
}

const require = createRequire(import.meta.url);

/** Files the dashboard loads, all served by hoard itself: nothing comes from elsewhere. */
const assets: Record<string, { file: () => string; type: string }> = {
  'uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  'dashboard.js': { file: () => join(import.meta.dirname, 'assets', 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { file: () => join(import.meta.dirname, 'assets', 'dashboard.css'), type: 'text/css; charset=utf-8' },
};
const assetCache = new Map<string, Buffer>();

const maxActionBody = 64 * 1024;

export function createAdminRoutes(o: AdminRoutesOptions) {
  const send = (req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...nosniffHeaders, ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const json = (req: IncomingMessage, res: ServerResponse, status: number, value: unknown) =>
    send(req, res, status, 'application/json', `${JSON.stringify(value, null, 2)}\n`);

  return async (req: IncomingMessage, res: ServerResponse, subpath: string): Promise<boolean> => {
    await o.beforeAnswer?.();
    const host = req.headers.host;
    if (!o.hosts.allows(host)) {
      const shown = (host ?? '').slice(0, 120);
      throw new HoardError(
        'HOARD_ERR_ADMIN_HOST_NOT_ALLOWED',
        // The accepted names are not listed: the answer may be read by the very page this refuses.
        `the admin pages answer only IP addresses, localhost, this machine's names and admin.hosts, not Host "${shown}" ` +
          "(a defence against DNS rebinding); add the name to admin.hosts if it is this cache's",
      );
    }
    const url = new URL(subpath, 'http://admin.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path.startsWith('/actions/')) {
      if (method !== 'POST') {
        send(req, res, 405, 'text/plain; charset=utf-8', 'admin actions are POST requests\n', { allow: 'POST' });
        return true;
      }
      const refused = authorize(req, o.token);
      if (refused) {
        json(req, res, refused.status, { error: 'HOARD_ERR_UNAUTHORIZED', message: refused.message });
        return true;
      }
      let body: Record<string, unknown>;
      try {
        body = await readJson(req);
      } catch (err) {
        json(req, res, 400, { error: 'HOARD_ERR_BAD_REQUEST', message: (err as Error).message });
        return true;
      }
      return runAction(path.slice('/actions/'.length), body, url, req, res);
    }
    if (method !== 'GET' && method !== 'HEAD') return false;

    if (path === '/' || path === '') {
      const page = dashboardPage(o.collector.snapshot(), { prefix: o.prefix, version: o.version, actionsEnabled: o.token !== undefined });
      send(req, res, 200, 'text/html; charset=utf-8', page, { 'content-security-policy': dashboardCsp });
      return true;
    }
    if (path === '/stats.json') {
      json(req, res, 200, { ...o.collector.snapshot(), ...o.extraStats?.() });
      return true;
    }
    if (path === '/metrics') {
      send(req, res, 200, o.collector.registry.contentType, await o.collector.registry.metrics());
      return true;
    }
    if (path === '/health') {
      const problems = o.collector.problems();
      const snapshot = o.collector.snapshot();
      json(req, res, problems.length === 0 ? 200 : 503, {
        status: problems.length === 0 ? 'ok' : 'degraded',
        problems,
        warnings: o.collector.warnings(),
        store: snapshot.store,
        // Counts for all, then the worst few by name: a cache that was asked for thousands of hosts answers in a few KB.
        upstreamCounts: snapshot.upstreamCounts,
        upstreams: snapshot.upstreams.slice(0, maxUpstreamsListed).map((u) => ({ upstream: u.upstream, state: u.state, lastError: u.lastError })),
        https: o.https?.() ?? null,
      });
      return true;
    }
    if (path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length);
      const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
      if (asset === undefined) return false;
      let bytes = assetCache.get(name);
      if (bytes === undefined) {
        bytes = readFileSync(asset.file());
        assetCache.set(name, bytes);
      }
      send(req, res, 200, asset.type, bytes, { 'cache-control': 'public, max-age=3600' });
      return true;
    }
    return false;
  };

  async function runAction(name: string, body: Record<string, unknown>, url: URL, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (name === 'gc') {
      const dryRun = body.dryRun === true || url.searchParams.get('dryRun') === '1' || url.searchParams.get('dryRun') === 'true';
      json(req, res, 200, await o.actions.gc(dryRun));
      return true;
    }
    if (name === 'evict') {
      const target = body.target;
      if (typeof target !== 'string' || target === '') {
        json(req, res, 400, { error: 'HOARD_ERR_BAD_REQUEST', message: 'evict needs {"target": "<cache key or sha256 digest>"}' });
        return true;
      }
      json(req, res, 200, await o.actions.evict(target));
      return true;
    }
    if (name === 'import') {
      const dir = body.dir;
      if (typeof dir !== 'string' || !dir.startsWith('/')) {
        json(req, res, 400, { error: 'HOARD_ERR_BAD_REQUEST', message: 'import needs {"dir": "<absolute directory path on the cache host>"}' });
        return true;
      }
      // Newline-delimited JSON: one progress line per file, then the report, so a client can draw progress.
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', ...nosniffHeaders });
      try {
        const report = await o.actions.importDebs(dir, (p) => res.write(`${JSON.stringify({ type: 'progress', ...p })}\n`));
        res.end(`${JSON.stringify({ type: 'done', ...report })}\n`);
      } catch (err) {
        res.end(`${JSON.stringify({ type: 'error', message: err instanceof Error ? err.message : String(err) })}\n`);
      }
      return true;
    }
    json(req, res, 404, { error: 'HOARD_ERR_BAD_REQUEST', message: `no admin action "${name}" (gc, evict, import)` });
    return true;
  }
}

function authorize(req: IncomingMessage, token: string | undefined): { status: number; message: string } | undefined {
  if (token === undefined) return { status: 403, message: 'admin actions are disabled: set admin.token in the configuration' };
  const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { status: 401, message: 'a valid admin token is needed (Authorization: Bearer <admin.token>)' };
  return undefined;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxActionBody) throw new Error(`action body over ${maxActionBody} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  const value: unknown = JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('action body must be a JSON object');
  return value as Record<string, unknown>;
}
