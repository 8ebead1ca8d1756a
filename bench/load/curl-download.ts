// curl, as users download single files: one download to /dev/null, or several clients each downloading in a loop for a time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const curlBinary = '/usr/bin/curl';

export interface CurlDownload {
  /** Decimal MB (10^6 bytes) per second, from curl's own `time_total` (connect to last byte). */
  readonly mbPerSecond: number;
  readonly seconds: number;
}

/** One curl process, one GET of `url` to /dev/null; fails unless the status is 200 and exactly `size` bytes came. */
export async function curlDownload(url: string, size: number, timeoutMs = 300_000): Promise<CurlDownload> {
  const { stdout } = await run(curlBinary, ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url], { timeout: timeoutMs });
  const [status, bytes, seconds] = stdout.trim().split(' ').map(Number);
  if (status !== 200 || bytes !== size) throw new Error(`curl ${url}: status ${status}, ${bytes} of ${size} bytes`);
  if (seconds === undefined || !(seconds > 0)) throw new Error(`curl ${url}: no time_total in ${JSON.stringify(stdout)}`);
  return { mbPerSecond: size / seconds / 1e6, seconds };
}

export interface CurlClientsResult {
  readonly clients: number;
  readonly downloads: number;
  /** From the first client's start to the last one's last byte. */
  readonly elapsedSeconds: number;
  /** All clients' bytes over the elapsed time: the aggregate speed. */
  readonly mbPerSecond: number;
}

/**
 * `clients` loops at once, each starting one curl after the other until `durationMs` has passed
 * (every download runs to its end, so the last ones finish after it; the elapsed time counts them).
 * A new curl process, and so a new connection, per download: how a script fetching files runs it.
 */
export async function curlClients(url: string, size: number, clients: number, durationMs: number): Promise<CurlClientsResult> {
  const started = performance.now();
  const deadline = started + durationMs;
  let downloads = 0;
  const loop = async () => {
    do {
      await curlDownload(url, size);
      downloads++;
    } while (performance.now() < deadline);
  };
  await Promise.all(Array.from({ length: clients }, loop));
  const elapsedSeconds = (performance.now() - started) / 1000;
  return { clients, downloads, elapsedSeconds, mbPerSecond: (downloads * size) / 1e6 / elapsedSeconds };
}
