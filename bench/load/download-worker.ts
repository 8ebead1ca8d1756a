// Child process entry for large-body clients: N connections download one URL, once each or in a loop for a time; prints JSON.
import { RawHttpConnection, type ResponseTiming } from './raw-http-download.ts';

export interface DownloadJob {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly connections: number;
  /** `once`: every connection sends one request at the same moment. `loop`: keep-alive GETs until the time is up. */
  readonly mode: 'once' | 'loop';
  readonly durationMs: number;
  /** Hash every body (costs CPU: only for correctness checks). */
  readonly hash: boolean;
}

export interface DownloadReport {
  /** Body bytes received by all connections, cut-off responses included. */
  readonly bodyBytes: number;
  readonly elapsedMs: number;
  readonly responses: readonly ResponseTiming[];
}

async function run(job: DownloadJob): Promise<DownloadReport> {
  const connections = Array.from({ length: job.connections }, () => new RawHttpConnection(job.host, job.port));
  // Connect everyone first so that "at once" means the requests, not the handshakes.
  await Promise.all(connections.map((c) => c.connected()));
  const started = performance.now();
  const responses: ResponseTiming[] = [];
  if (job.mode === 'once') {
    const timings = await Promise.all(connections.map((c) => c.get(job.path, job.hash)));
    responses.push(...timings);
  } else {
    const deadline = started + job.durationMs;
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, job.durationMs);
    });
    const loops = connections.map(async (c) => {
      while (performance.now() < deadline) {
        const timing = await c.get(job.path, job.hash);
        if (timing.error !== undefined) {
          responses.push(timing);
          return;
        }
        responses.push(timing);
      }
    });
    // Stop at the deadline even in the middle of a body: bytes received so far count.
    await Promise.race([Promise.all(loops), timeUp]);
    clearTimeout(timer);
  }
  const elapsedMs = performance.now() - started;
  const bodyBytes = connections.reduce((sum, c) => sum + c.bodyBytesTotal, 0);
  for (const c of connections) c.close();
  return { bodyBytes, elapsedMs, responses };
}

if (import.meta.main) {
  const job = JSON.parse(process.argv[2] ?? '{}') as DownloadJob;
  run(job).then(
    (report) => {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
