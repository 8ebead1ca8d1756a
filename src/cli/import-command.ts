// `hoard import <dir>`: the running cache stores the .deb files of <dir> that a cached index knows by hash.
import { resolve } from 'node:path';
import { adminRequest, type AdminTarget } from './admin-client.ts';
import type { ProgressReporter } from './progress-reporter.ts';

export async function importCommand(
  target: AdminTarget,
  dir: string,
  progress: ProgressReporter,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  // The cache reads the directory itself, so it needs a path valid on its host (the usual case: the same machine).
  const response = await adminRequest(target, '/actions/import', { method: 'POST', body: { dir: resolve(dir) } });
  let pending = '';
  let final: Record<string, unknown> | undefined;
  const decoder = new TextDecoder();
  for await (const chunk of response.body ?? []) {
    pending += decoder.decode(chunk as Uint8Array, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const message = JSON.parse(line) as Record<string, unknown>;
      if (message.type === 'progress') progress.update(Number(message.done), Number(message.total), `${String(message.outcome)} ${String(message.file)}`);
      else final = message;
    }
  }
  if (final?.type === 'error') throw new Error(`import failed: ${String(final.message)}`);
  if (final === undefined) throw new Error('import ended without a report (the cache went away?)');
  progress.done(
    `imported: ${String(final.stored)} stored, ${String(final.already)} already cached, ${String(final.unknown)} unknown to the cached indices, ${String(final.failed)} failed (of ${String(final.files)} files)`,
  );
  out.write(`${JSON.stringify(final)}\n`);
  return Number(final.failed) > 0 ? 1 : 0;
}
