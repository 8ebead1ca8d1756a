// nginx configuration text shared by the upstream, the from-disk peer and the proxy-cache peer: Debian's defaults, paths in a private prefix.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess } from '../system/managed-process.ts';

export const nginxBinary = '/usr/sbin/nginx';

/**
 * Close to Debian's stock nginx.conf (worker_processes auto, sendfile, tcp_nopush, keepalive 65 s,
 * an access log), with every path inside `prefix` so that nothing of the machine's nginx is used.
 * Workers run as root because the repository and caches sit in 0700 temp directories.
 */
export function nginxConfig(prefix: string, httpBody: string): string {
  return `daemon off;
master_process on;
worker_processes auto;
user root;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  log_format bench '$request_uri $status $body_bytes_sent';
  access_log ${prefix}/access.log bench;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy_temp;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${httpBody}
}
`;
}

/** Writes the configuration into `prefix` and starts nginx in the foreground; resolves once every port listens. */
export async function startNginx(name: string, prefix: string, httpBody: string, ports: readonly number[]): Promise<ManagedProcess> {
  await mkdir(prefix, { recursive: true });
  const confPath = join(prefix, 'nginx.conf');
  await writeFile(confPath, nginxConfig(prefix, httpBody));
  return ManagedProcess.startListening(name, { command: nginxBinary, args: ['-p', prefix, '-c', confPath], logFile: join(prefix, 'stdout.log') }, ports);
}

/** Stops nginx the quick way (SIGTERM: master and workers exit at once). */
export async function stopNginx(nginx: ManagedProcess): Promise<void> {
  await nginx.stop('SIGTERM', 5000);
}
