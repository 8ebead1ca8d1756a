// nginx as a plain caching reverse proxy (proxy_cache with cache lock) in front of each origin, reached in prefix mode.
import { join } from 'node:path';
import { findFreePortBelow } from '../system/free-port.ts';
import { startNginx, stopNginx } from './nginx-config.ts';
import { prefixModePeer, type Peer, type PeerContext, type RunningPeer } from './peer.ts';

/**
 * One `location /127.0.0.1:PORT/` per origin, so clients use the same prefix-mode URLs as with hoard
 * and apt-cacher-ng. proxy_cache_lock is on, with its timeouts raised from 5 s to 60 s: without that
 * nginx would send every waiting client upstream after 5 s, which is not how one would run it as a
 * package cache. Responses are cached for 10 minutes whatever their headers say; apt's
 * `Cache-Control: max-age=0` is not honoured (nginx ignores client cache directives by default).
 */
export const nginxProxyCachePeer: Peer = {
  name: 'nginx-cache',
  caches: true,
  images: true,
  async start(context: PeerContext): Promise<RunningPeer> {
    const port = await findFreePortBelow(32768);
    const prefix = join(context.workDir, 'nginx-cache');
    const upstreams = context.origins.map((o) => `  upstream origin_${o.port} { server 127.0.0.1:${o.port}; keepalive 16; }`).join('\n');
    const locations = context.origins.map((o) => `    location /127.0.0.1:${o.port}/ { proxy_pass http://origin_${o.port}/; }`).join('\n');
    const body = `
  proxy_cache_path ${prefix}/cache levels=1:2 keys_zone=bench:16m max_size=20g inactive=7d use_temp_path=off;
${upstreams}
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_cache bench;
    proxy_cache_valid 200 10m;
    proxy_cache_lock on;
    proxy_cache_lock_timeout 60s;
    proxy_cache_lock_age 60s;
${locations}
  }`;
    const nginx = await startNginx('nginx-cache', prefix, body, [port]);
    return prefixModePeer(
      port,
      context,
      () => nginx.pids(),
      () => stopNginx(nginx),
    );
  },
};
