// Runs wrk (from Debian) against one server for a fixed time and returns its summary: requests/s, latency percentiles, errors.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../test/support/command-runner.ts';
import { wrkScript } from './wrk-script.ts';

export const wrkBinary = '/usr/bin/wrk';

export interface WrkOptions {
  /** `http://127.0.0.1:PORT`. */
  readonly base: string;
  /** One path (fixed request) or several (cycled through by the Lua script). */
  readonly paths: readonly string[];
  readonly connections: number;
  readonly threads: number;
  readonly durationSeconds: number;
  /** Adds `Connection: close`, so every request opens a new connection. */
  readonly newConnectionPerRequest: boolean;
  /** Where the script and paths file are written. */
  readonly scratchDir: string;
}

export interface WrkResult {
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly bytes: number;
  readonly durationSeconds: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Connect, read, write errors, non-2xx/3xx statuses and timeouts together. */
  readonly errors: number;
  readonly statusErrors: number;
}

interface WrkJson {
  requests: number;
  bytes: number;
  durationUs: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  statusErrors: number;
  timeouts: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

let scriptCounter = 0;

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const id = scriptCounter++;
  let pathsFile: string | undefined;
  if (options.paths.length > 1) {
    pathsFile = join(options.scratchDir, `wrk-paths-${id}.txt`);
    await writeFile(pathsFile, `${options.paths.join('\n')}\n`);
  }
  const scriptFile = join(options.scratchDir, `wrk-${id}.lua`);
  await writeFile(scriptFile, wrkScript(pathsFile));
  const url = `${options.base}${options.paths[0] ?? '/'}`;
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    '--timeout',
    '5s',
    '-s',
    scriptFile,
    ...(options.newConnectionPerRequest ? ['-H', 'Connection: close'] : []),
    url,
  ];
  const result = await runCommand(wrkBinary, args, { timeoutMs: (options.durationSeconds + 30) * 1000 });
  const line = result.stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (result.exitCode !== 0 || line === undefined) {
    throw new Error(`wrk failed (exit ${result.exitCode}): ${result.stderr}\n${result.stdout}`);
  }
  const json = JSON.parse(line.slice('WRK_JSON '.length)) as WrkJson;
  const seconds = json.durationUs / 1e6;
  return {
    requestsPerSecond: json.requests / seconds,
    requests: json.requests,
    bytes: json.bytes,
    durationSeconds: seconds,
    p50Ms: json.p50Us / 1000,
    p90Ms: json.p90Us / 1000,
    p99Ms: json.p99Us / 1000,
    maxMs: json.maxUs / 1000,
    errors: json.connectErrors + json.readErrors + json.writeErrors + json.statusErrors + json.timeouts,
    statusErrors: json.statusErrors,
  };
}
