// nginx serving the repository files straight from disk: no cache, no upstream; the limit of what this machine can serve.
import { join } from 'node:path';
import { findFreePortBelow } from '../system/free-port.ts';
import { startNginx, stopNginx } from './nginx-config.ts';
import type { Peer, PeerContext, RunningPeer } from './peer.ts';

export const nginxDiskPeer: Peer = {
  name: 'nginx-disk',
  caches: false,
  images: true,
  async start(context: PeerContext): Promise<RunningPeer> {
    const port = await findFreePortBelow(32768);
    const prefix = join(context.workDir, 'nginx-disk');
    const body = `
  server { listen 127.0.0.1:${port}; location ${context.urlPrefix}/ { alias ${context.repoRoot}/; } }`;
    const nginx = await startNginx('nginx-disk', prefix, body, [port]);
    const base = `http://127.0.0.1:${port}`;
    return {
      base,
      // Whatever the origin, the same file is read from the same disk.
      requestPath: (_origin, repoPath) => repoPath,
      aptRoute: () => ({ sourceUrl: `${base}${context.urlPrefix}`, route: { kind: 'direct' } }),
      pids: () => nginx.pids(),
      stop: () => stopNginx(nginx),
    };
  },
};
