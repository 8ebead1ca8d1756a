// Routes under the admin prefix (default /_hoard): health for now; the dashboard and metrics hang here.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HealthSource {
  /** Reasons the cache is degraded; empty when healthy. */
  problems(): string[];
}

export function createAdminRoutes(health: HealthSource) {
  return async (req: IncomingMessage, res: ServerResponse, subpath: string): Promise<boolean> => {
    const path = subpath.split('?')[0];
    if (path === '/health') {
      const problems = health.problems();
      const body = JSON.stringify({ status: problems.length === 0 ? 'ok' : 'degraded', problems });
      res.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return Promise.resolve(true);
    }
    return Promise.resolve(false);
  };
}
