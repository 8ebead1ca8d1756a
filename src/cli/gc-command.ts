// `hoard gc [--dry-run]`: asks the running cache to remove objects no cached index refers to (and orphan blobs).
import type { RemovalReport } from '../cache/store-janitor.ts';
import { formatBytes } from '../admin/dashboard-page.ts';
import { adminRequest, type AdminTarget } from './admin-client.ts';

export async function gcCommand(target: AdminTarget, options: { dryRun: boolean }, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const report = (await (await adminRequest(target, '/actions/gc', { method: 'POST', body: { dryRun: options.dryRun } })).json()) as RemovalReport;
  for (const r of report.removed)
    out.write(`${options.dryRun ? 'would remove' : 'removed'} ${r.digest} ${r.size} ${r.reason}${r.keys.length > 0 ? ` ${r.keys.join(' ')}` : ''}\n`);
  out.write(
    `${options.dryRun ? 'dry run: would free' : 'freed'} ${formatBytes(report.freedBytes)} in ${report.removed.length} objects${report.kept > 0 ? ` (${report.kept} kept: in use)` : ''}\n`,
  );
  const bucket = report.bucket;
  if (bucket !== undefined) {
    out.write(
      bucket.ran
        ? `bucket: deleted ${bucket.deleted} blobs no node refers to; ${bucket.rescued} kept (a node refers to them again); ${bucket.waiting} waiting for the grace period\n`
        : 'bucket: another node is sweeping (it holds the lease); nothing deleted from here\n',
    );
  }
  return 0;
}
