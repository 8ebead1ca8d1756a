// `hoard stats`: the dashboard's numbers from the running cache, as text (or JSON with --json).
import type { StatsSnapshot } from '../admin/metrics-collector.ts';
import { formatBytes } from '../admin/dashboard-page.ts';
import { adminRequest, type AdminTarget } from './admin-client.ts';

export async function statsCommand(target: AdminTarget, options: { json: boolean }, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const stats = (await (await adminRequest(target, '/stats.json')).json()) as StatsSnapshot;
  if (options.json) {
    out.write(`${JSON.stringify(stats, null, 2)}\n`);
    return 0;
  }
  out.write(renderStats(stats));
  return 0;
}

export function renderStats(s: StatsSnapshot): string {
  const lines: string[] = [];
  const total = Object.values(s.requests).reduce((a, b) => a + b, 0);
  lines.push(`hit ratio            ${s.hitRatio === undefined ? '-' : `${(s.hitRatio * 100).toFixed(1)}%`}`);
  lines.push(
    `requests             ${total} (${
      Object.entries(s.requests)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    })`,
  );
  lines.push(`served from cache    ${formatBytes(s.bytes.servedFromCache)} (${s.bytes.servedFromCache} bytes)`);
  lines.push(`fetched upstream     ${formatBytes(s.bytes.fetchedUpstream)} (${s.bytes.fetchedUpstream} bytes)`);
  lines.push(`bandwidth saved      ${formatBytes(s.bytes.saved)}`);
  lines.push(
    `disk use             ${formatBytes(s.store.bytes)}${s.store.maxBytes === undefined ? ' (no cap)' : ` of ${formatBytes(s.store.maxBytes)}`}, ${s.store.objects} objects, ${s.store.entries} entries${s.store.full ? ' - DISK FULL, passing through' : ''}`,
  );
  lines.push(`downloads            ${s.downloads.inFlight.length} in progress, ${s.downloads.completed} done, ${s.downloads.failed} failed`);
  for (const d of s.downloads.inFlight) lines.push(`  ${d.key} ${formatBytes(d.written)}${d.expected === undefined ? '' : ` / ${formatBytes(d.expected)}`}`);
  lines.push(`verification failures ${s.verificationFailures.total}`);
  lines.push(`evictions            ${s.evictions.total} (${formatBytes(s.evictions.bytes)})`);
  lines.push('upstreams');
  for (const u of s.upstreams)
    lines.push(`  ${u.upstream} ${u.state} (${u.requests} requests, ${u.failures} failures${u.lastError === undefined ? '' : `, last error: ${u.lastError}`})`);
  if (s.topPackages.length > 0) {
    lines.push('top packages');
    for (const p of s.topPackages) lines.push(`  ${p.name} ${p.requests} requests, ${formatBytes(p.bytes)}`);
  }
  return `${lines.join('\n')}\n`;
}
